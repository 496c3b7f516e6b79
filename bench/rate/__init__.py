"""Scenarios (f), (g), (h): workers sharing the IM quota, fixed against adaptive.

The emulator limits requests like the service, per fixed 1-second bucket of its clock. Each run
publishes a paced stream of changes whose every event is its own user (one request per event:
nothing coalesces), so the demand in requests per second is the publishing rate and stays above
the quota for the whole run. Every run is made twice in one invocation, with
``STREAMS_RATE_CONTROL=fixed`` and ``adaptive``:

* (f) skew: 4 workers, 8 partitions, a budget equal to the quota; once the group has settled,
  the two partitions of one worker carry 70 % of the events, the other six 5 % each.
* (g) a misconfigured budget: ``STREAMS_RATE_LIMIT`` five times the quota, 2 workers.
* (h) the quota halved, then restored, through the emulator's live knobs: 4 workers.

Per second and per worker, from the emulator's request log (``GET /debug/requests``: time,
code and From_Account of every call, 60007s included; each user is mapped to its partition by
``partition_for`` and to its worker by the assignment read from the workers' logs): requests
sent, accepted and answered 60007. Each worker's ``/metrics`` (its own ``STREAMS_WEB_PORT``)
is scraped every second for ``streams_im_rate_limit``; its request counters move only when a
window ends (a budget-bound window lasts minutes), so they serve as a cross-check at the end.

One module per concern: ``scenarios`` (the configurations and run lengths), ``workload`` (the
events), ``runner`` (the processes of one run), ``logs`` (the assignment read from the workers'
logs), ``metrics`` (scraping ``/metrics``), ``runs`` (what a run recorded, per second and
worker), ``analysis`` (the figures), ``plots``, ``report`` (the RESULTS.md section) and
``suite`` (every scenario, fixed then adaptive).
"""

from bench.rate.analysis import (
    CONVERGED_REJECTED,
    SETTLE_SPAN_S,
    SKIP_S,
    Figures,
    Span,
    converged_at,
    end_second,
    figures,
    risen_at,
    settled_at,
    span,
)
from bench.rate.logs import parse_assignment
from bench.rate.metrics import scrape
from bench.rate.plots import PLOTS, plot, plot_name
from bench.rate.report import BEGIN, END, SECTION, SECTIONS, section
from bench.rate.runner import run_one
from bench.rate.runs import FREQUENCY_CODES, RunResult, Sample, seconds_table
from bench.rate.scenarios import CONTROLS, FULL, QUICK, QUOTA, Scenario, Sizes, scenarios
from bench.rate.suite import dump, run_all
from bench.rate.workload import events, partition_weights

__all__ = [
    "BEGIN",
    "CONTROLS",
    "CONVERGED_REJECTED",
    "END",
    "FREQUENCY_CODES",
    "FULL",
    "PLOTS",
    "QUICK",
    "QUOTA",
    "SECTION",
    "SECTIONS",
    "SETTLE_SPAN_S",
    "SKIP_S",
    "Figures",
    "RunResult",
    "Sample",
    "Scenario",
    "Sizes",
    "Span",
    "converged_at",
    "dump",
    "end_second",
    "events",
    "figures",
    "parse_assignment",
    "partition_weights",
    "plot",
    "plot_name",
    "risen_at",
    "run_all",
    "run_one",
    "scenarios",
    "scrape",
    "seconds_table",
    "section",
    "settled_at",
    "span",
]
