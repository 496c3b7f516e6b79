"""A worker's ``/metrics``, scraped over its own ``STREAMS_WEB_PORT``."""

from __future__ import annotations

import urllib.request
from collections import defaultdict


def scrape(port: int) -> dict[str, float]:
    """A worker's /metrics, summed over labels per sample name (code-labelled ones kept too)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as response:
        text = response.read().decode()
    samples: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name.split("{", 1)[0]] += float(value)
            if name.startswith("streams_sdk_requests_total{"):
                samples[name] = float(value)
    return dict(samples)
