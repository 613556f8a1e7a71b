"""The mypyc build is used only when it matches the sources; otherwise the Python modules run (or, asked, it fails)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from subwarden import native

PROBE = "import subwarden.http as h; from subwarden import native; print(h.NATIVE, native.active())"


def _probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True)


@pytest.fixture()
def built(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(native.ENV, raising=False)  # the build itself, whatever this run asked for
    if native.native_state() != "current":
        pytest.fail("no current native build: run `make native` (make test builds it)")
    return native.NATIVE_DIR


def test_current_build_runs_the_compiled_modules(built: Path) -> None:
    result = _probe({"SUBWARDEN_NATIVE": ""})
    assert result.stdout.split() == ["True", "True"], result.stderr


def test_disabled_build_runs_the_python_modules(built: Path) -> None:
    result = _probe({"SUBWARDEN_NATIVE": "0"})
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_stale_build_falls_back_or_fails_when_required(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "native"
    shutil.copytree(built, copy)
    native.stamp_path(copy).write_text("0" * 64 + "\n")  # as if a module changed after the build
    fallback = _probe({"SUBWARDEN_NATIVE": "", "SUBWARDEN_NATIVE_DIR": str(copy)})
    assert fallback.stdout.split() == ["False", "False"], fallback.stderr
    required = _probe({"SUBWARDEN_NATIVE": "1", "SUBWARDEN_NATIVE_DIR": str(copy)})
    assert required.returncode != 0 and "native build is stale" in required.stderr


def test_stamp_changes_with_any_compiled_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = native.source_stamp()
    package = tmp_path / "subwarden"
    shutil.copytree(Path(native.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(native, "_PACKAGE", package)
    assert native.source_stamp() == before
    head = package / "http" / "head.py"
    head.write_text(head.read_text() + "\n# edited\n")
    assert native.source_stamp() != before
