"""A labelled histogram updated in batches and exposed at scrape time.

prometheus-client's Histogram takes two locks and scans every bucket per
observation (~4 µs each here); records carry eight timings, so the drain sorts
each batch's values once, adds plain bucket counts and renders them only when scraped.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterator, Sequence

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class BatchHistogram(Collector):
    """One histogram family with a single label; ``observe`` calls are grouped under ``lock``."""

    def __init__(
        self, name: str, documentation: str, label: str, buckets: Sequence[float], *, unit: float = 1.0
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self._bounds = tuple(sorted(buckets))
        #: Observations come in 1/unit of the exposed unit (e.g. µs for seconds: unit=1e6).
        self._unit = unit
        self._unit_bounds = tuple(round(b * unit, 9) for b in self._bounds)
        #: label value → [count per bucket ..., count above the last bound, sum (in observed units)]
        self._series: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def observe_many(self, value: str, amounts: list[float]) -> None:
        """Add a batch of observations (sorts ``amounts``); callers hold ``lock``."""
        series = self._series.get(value)
        if series is None:
            series = self._series[value] = [0] * (len(self._bounds) + 1) + [0.0]
        amounts.sort()
        below = 0
        for i, bound in enumerate(self._unit_bounds):
            upto = bisect_right(amounts, bound)  # a value on a bound counts in that bucket (le)
            series[i] += upto - below
            below = upto
        series[-2] += len(amounts) - below
        series[-1] += sum(amounts)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        with self.lock:
            snapshot = {value: list(series) for value, series in self._series.items()}
        for value, series in sorted(snapshot.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip((*map(_bound_text, self._bounds), "+Inf"), series[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([value], buckets, sum_value=series[-1] / self._unit)
        yield family


def _bound_text(bound: float) -> str:
    return repr(float(bound))
