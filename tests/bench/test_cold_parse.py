"""bench/run.py reads pg_cold.py's output: the goal's ratio is the median of per-round ratios. No timing."""

from __future__ import annotations

import run  # bench/ is on pytest's pythonpath (pyproject.toml)

OUTPUT = """\
users=80000 concurrency=32 pool=10 rounds=20x2000
asyncpg fetchrow      :     18526 lookups/s (median)
PostgresStore.fetch   :     12802 lookups/s (median)
ratio per round       : 63% 57% 68% 80% 67% 61% 77% 77% 64% 70%
ratio (median)        :     67.4%  (target >= 70%)
"""


def test_the_goal_ratio_is_the_paired_median_and_the_ratio_of_medians_is_kept_beside_it() -> None:
    assert run.parse_cold(OUTPUT) == {"raw_rps": 18526.0, "store_rps": 12802.0, "ratio": 0.674,
                                      "ratio_of_medians": 0.691}


def test_output_without_the_paired_ratio_is_an_error_not_a_number() -> None:
    assert run.parse_cold(OUTPUT.replace("ratio (median)", "ratio")) is None
