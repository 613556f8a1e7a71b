"""Standalone gateway process for signal and worker tests: `python dp_gateway.py '<config json>'`."""

from __future__ import annotations

import json
import logging
import sys

from dp_stages import make_gateway

from subwarden.config import parse_config
from subwarden.http.serve import serve


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(process)d %(levelname)s %(message)s")
    config = parse_config(json.loads(sys.argv[1]), env={})
    return serve(config, lambda: make_gateway(config))


if __name__ == "__main__":
    sys.exit(main())
