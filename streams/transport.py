"""The worker's Kafka transport: Faust's aiokafka driver, minus its gap filling.

Faust treats a jump in a partition's offsets as a "gap" and counts the skipped offsets as acked
(meant for compacted topics and transaction markers). Around rebalances and start-up Faust itself
can drop fetched messages (a fetch from before the seek to the committed offset, or a read offset
written back after revocation), and the gap then commits past events that never got an outcome:
they are lost. The changes topic is neither compacted nor transactional, so here a jump is never
acked: the commit stops at the last offset the agent really acked, and a restart redelivers.
(Upstream producers writing the changes topic in transactions leave markers that look like
gaps; commits would then stall at the marker: a visible lag, never a loss.)
"""

from __future__ import annotations

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

#: URL scheme of this transport (``streams.app`` rewrites ``kafka://`` to it).
SCHEME = "streamskafka"


class GaplessConsumer(faust_aiokafka.Consumer):
    """An aiokafka consumer that never counts unseen offsets as acked."""

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        return None


class Transport(faust_aiokafka.Transport):
    """Selected by ``streamskafka://host:port``."""

    Consumer = GaplessConsumer


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
