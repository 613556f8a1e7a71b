"""A labelled histogram updated in batches and exposed at scrape time.

prometheus-client's Histogram takes two locks and scans every bucket per
observation (~4 µs each here); records carry eight timings, so the drain keeps
plain bucket counts instead and renders them only when scraped.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class BatchHistogram(Collector):
    """One histogram family with a single label; ``observe`` calls are grouped under ``lock``."""

    def __init__(self, name: str, documentation: str, label: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self._bounds = tuple(sorted(buckets))
        #: label value → [count per bucket ..., count above the last bound, sum]
        self._series: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def observe(self, value: str, amount: float) -> None:
        """Add one observation; callers hold ``lock`` (once per batch, not per observation)."""
        series = self._series.get(value)
        if series is None:
            series = self._series[value] = [0] * (len(self._bounds) + 1) + [0.0]
        series[bisect_left(self._bounds, amount)] += 1
        series[-1] += amount

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        with self.lock:
            snapshot = {value: list(series) for value, series in self._series.items()}
        for value, series in sorted(snapshot.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip((*map(_bound_text, self._bounds), "+Inf"), series[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([value], buckets, sum_value=series[-1])
        yield family


def _bound_text(bound: float) -> str:
    return repr(float(bound))
