"""bench/run.py reads pg_cold.py's output: the goal's ratio is the median of per-round ratios. No timing."""

from __future__ import annotations

import run  # bench/ is on pytest's pythonpath (pyproject.toml)

OUTPUT = """\
users=80000 concurrency=32 pool=10 rounds=20x1333
asyncpg fetchrow      :     18763 lookups/s (median)
PostgresStore.fetch   :     15916 lookups/s (median)
ResolveUserStage.run  :     11356 lookups/s (median)
store ratio per round : 64% 62% 75% 80% 78% 74% 66% 83% 77% 84%
store ratio (median)  :     80.7%
stage ratio per round : 67% 52% 49% 62% 48% 64% 59% 62% 58% 63%
ratio (median)        :     62.4%  (resolve stage; target >= 70%)
"""


def test_the_goal_ratio_is_the_resolve_stages_paired_median_with_the_store_only_ratio_beside_it() -> None:
    assert run.parse_cold(OUTPUT) == {"raw_rps": 18763.0, "store_rps": 15916.0, "stage_rps": 11356.0,
                                      "ratio": 0.624, "store_ratio": 0.807, "ratio_of_medians": 0.605}


def test_output_without_the_resolve_stage_is_an_error_not_a_store_only_number() -> None:
    assert run.parse_cold(OUTPUT.replace("ResolveUserStage.run", "Resolve")) is None


def test_output_without_the_paired_ratio_is_an_error_not_a_number() -> None:
    assert run.parse_cold(OUTPUT.replace("ratio (median)", "ratio")) is None
