"""The serving code never depends on the explaining code: importing every module of the pipeline,
tokens, identity and http packages in a fresh interpreter loads nothing from diagnose or the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib, json, pkgutil, sys
loaded = []
for name in ("subwarden.pipeline", "subwarden.tokens", "subwarden.identity", "subwarden.http"):
    package = importlib.import_module(name)
    loaded.append(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(info.name)
        loaded.append(info.name)
bad = sorted(m for m in sys.modules if m.startswith(("subwarden.diagnose", "subwarden.cli")))
print(json.dumps({"loaded": loaded, "bad": bad}))
"""


def test_serving_packages_import_nothing_from_diagnose_or_the_cli() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert "subwarden.pipeline.build" in data["loaded"]
    assert "subwarden.identity.resolve" in data["loaded"]
    assert any(m.startswith("subwarden.http.") for m in data["loaded"])
    assert data["bad"] == []
