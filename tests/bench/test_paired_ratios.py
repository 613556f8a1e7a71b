"""bench/report.py: the goals' wrk ratios are taken within each interleaved pass, then the median. No timing."""

from __future__ import annotations

from typing import Any

import report  # bench/ is on pytest's pythonpath (pyproject.toml)

KEY = "pinned/cached subwarden ÷ haproxy" + report.PAIRED


def _run(target: str, repeat: int, rps: float, *, valid: bool = True, mode: str = "cached",
         layout: str = "pinned") -> dict[str, Any]:
    return {"layout": layout, "mode": mode, "target": target, "repeat": repeat, "rps": rps,
            "p99_ms": 1000 / rps, "valid": valid}


def test_each_pass_is_compared_with_itself_so_drift_between_passes_cancels() -> None:
    # The host runs at full speed, then at 60 %, then at 80 %: subwarden is 1.5x haproxy in every pass.
    runs = [_run("haproxy", 0, 20_000), _run("subwarden", 0, 30_000),
            _run("haproxy", 1, 12_000), _run("subwarden", 1, 18_000),
            _run("haproxy", 2, 16_000), _run("subwarden", 2, 24_000)]
    assert report.paired_ratios(runs)[KEY] == 1.5
    # The ratio of the two medians pairs subwarden's second-fastest pass with haproxy's: here also 1.5, but
    # with 20k/12k/16k against 30k/18k/30k (a fast last pass for one target only) they part ways.
    uneven = [*runs[:4], _run("haproxy", 2, 16_000), _run("subwarden", 2, 30_000)]
    assert report.paired_ratios(uneven)[KEY] == 1.5
    filled = {"workers": 1, "errors": 0, "p50_ms": 1.0, "target_cpu_pct": 100.0, "load_cpu_pct": 50.0,
              "invalid": None}
    summary = report.summarize_runs([{**r, **filled} for r in uneven])
    assert report.ratios(summary)["pinned/cached subwarden ÷ haproxy"] == round(30_000 / 16_000, 3)


def test_a_pass_counts_only_when_both_of_its_runs_are_valid() -> None:
    runs = [_run("haproxy", 0, 10_000), _run("subwarden", 0, 30_000, valid=False),
            _run("haproxy", 1, 10_000), _run("subwarden", 1, 12_000),
            _run("subwarden", 2, 50_000)]  # no haproxy run in pass 2
    ratios = report.paired_ratios(runs)
    assert ratios[KEY] == 1.2
    assert ratios["pinned/new subwarden ÷ haproxy" + report.PAIRED] is None  # no run of that mode at all


def test_p99_and_every_token_new_are_paired_too_and_unpinned_runs_are_left_out() -> None:
    runs = [_run("nginx", 0, 50_000), _run("subwarden", 0, 25_000),
            _run("haproxy", 0, 10_000, mode="new"), _run("subwarden", 0, 5_000, mode="new"),
            _run("haproxy", 0, 1_000, layout="unpinned"), _run("subwarden", 0, 90_000, layout="unpinned")]
    ratios = report.paired_ratios(runs)
    assert ratios["pinned/cached p99 subwarden ÷ nginx" + report.PAIRED] == 2.0  # p99 = 1000 / rps
    assert ratios["pinned/new subwarden ÷ haproxy" + report.PAIRED] == 0.5
    assert ratios[KEY] is None  # the unpinned pair is not a pinned data point


def test_the_goals_read_the_paired_ratios() -> None:
    ratios = {KEY: 2.1, "pinned/cached subwarden ÷ haproxy": 1.9}
    verdicts = {g["goal"]: g for g in report.goals(ratios, None, None)}
    assert verdicts["cached: subwarden / haproxy req/s"]["measured"] == 2.1
    assert verdicts["cached: subwarden / haproxy req/s"]["met"] is True
