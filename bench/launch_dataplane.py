"""Stop-gap launcher used only while ``subwarden serve`` (subwarden.serve) is not importable.

Runs the data plane with records (SQLite sink) and metrics wired as serve would; no admin plane.
Usage: python launch_dataplane.py CONFIG
"""

from __future__ import annotations

import sys
from typing import Any

from subwarden.config import fingerprint, load_config
from subwarden.http.serve import serve
from subwarden.observe.build import build_record_writer
from subwarden.observe.metrics import GatewayMetrics
from subwarden.pipeline.build import build_gateway


def main(path: str) -> int:
    config = load_config(path)

    def build() -> Any:
        writer = build_record_writer(config, fingerprint(config), metrics=GatewayMetrics())
        gateway = build_gateway(config, record=writer.record)
        gateway.runtimes.append(writer)
        return gateway

    return serve(config, build)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
