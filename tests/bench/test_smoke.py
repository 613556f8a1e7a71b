"""The benchmark harness in smoke mode: it runs subwarden end to end and its correctness pre-checks hold.

No timing is asserted: the numbers of a smoke run mean nothing, only that the harness works.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_CHECKS = {
    "valid token is accepted",
    "client identity headers are replaced",
    "tampered signature is rejected",
    "payload swapped under a valid signature is rejected",
    "alg none is rejected",
    "expired token is rejected",
    "not-yet-valid token is rejected",
    "wrong audience is rejected",
    "wrong kid is rejected",
    "unknown user is rejected",
    "missing token is rejected",
}


@dataclass(frozen=True)
class SmokeRun:
    work: Path
    returncode: int
    output: str


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """One ``bench/run.py --smoke`` (a few seconds) shared by the tests below."""
    work = tmp_path_factory.mktemp("bench") / "work"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--work", str(work)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    return SmokeRun(work, proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:])


def test_smoke_run_measures_subwarden_after_every_precheck_passes(smoke_run: SmokeRun) -> None:
    assert smoke_run.returncode == 0, smoke_run.output
    result = json.loads((smoke_run.work / "smoke.json").read_text())

    checks = result["prechecks"]["pinned/subwarden"]
    expected = set(EXPECTED_CHECKS)
    if result["settings"]["subwarden_launcher"] == "cli":
        expected.add("metrics endpoint counts the requests")
    assert {c["check"] for c in checks} == expected
    assert [c for c in checks if not c["ok"]] == []
    assert result["problems"] == []
    [run] = result["runs"]
    assert run["target"] == "subwarden" and run["valid"]
    assert run["requests"] > 0 and run["errors"] == 0
    if result["settings"]["subwarden_launcher"] == "cli":  # read from its /metrics: a count, not absent
        assert run["records_dropped"] == 0
    assert (smoke_run.work / "smoke.md").read_text().startswith("# subwarden benchmark")


def test_smoke_run_leaves_no_process_behind(smoke_run: SmokeRun) -> None:
    leftovers = subprocess.run(["pgrep", "-f", str(smoke_run.work)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
