"""`subwarden serve`: each worker builds its gateway, record writer and metrics; worker 0 also
runs the control plane (admin API, /metrics, /readyz) on its own port."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from subwarden.config.models import GatewayConfig
from subwarden.pipeline.gateway import Gateway

log = logging.getLogger("subwarden")

#: Where the generated subject hash key is kept when its environment variable is unset.
RECORDS_VAR_DIR = Path("var")
#: Set by the supervisor in each forked worker; absent in single-process mode.
WORKER_SLOT_ENV = "SUBWARDEN_WORKER_SLOT"


class AdminRuntime:
    """Starts and stops the control plane inside the worker's event loop."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.app, self.host, self.port = app, host, port
        self.server: Any = None

    async def start(self) -> None:
        from subwarden.admin.server import run_admin

        try:
            self.server = await run_admin(self.app, self.host, self.port)
        except OSError as exc:
            log.error("control plane not started: cannot bind %s:%d (%s)", self.host, self.port, exc.strerror)

    async def close(self) -> None:
        from subwarden.admin.server import stop_admin

        if self.server is not None:
            await stop_admin(self.server)


def build_serving_gateway(config: GatewayConfig, gateway: Gateway | None = None) -> Gateway:
    """The gateway as `serve` runs it: records and metrics on, control plane in worker 0.

    ``gateway`` is an already built (not started) pipeline to wire up instead of building anew.
    """
    from subwarden.admin.wiring import admin_app_for_gateway
    from subwarden.diagnose.api import admin_diagnose
    from subwarden.observe.build import build_record_writer, register_gateway_stats
    from subwarden.observe.metrics import GatewayMetrics
    from subwarden.pipeline.build import build_gateway

    gateway = gateway or build_gateway(config)
    metrics = GatewayMetrics()
    metrics.set_fingerprint(gateway.fingerprint)
    writer = build_record_writer(config, gateway.fingerprint, metrics=metrics, var_dir=RECORDS_VAR_DIR)
    gateway.record = writer.record
    gateway.runtimes.append(writer)
    register_gateway_stats(metrics, gateway)
    if config.admin.enabled and os.environ.get(WORKER_SLOT_ENV, "0") == "0":
        app = admin_app_for_gateway(gateway, records=writer, metrics=metrics, diagnose=admin_diagnose(gateway))
        gateway.runtimes.append(AdminRuntime(app, config.admin.host, config.admin.port))
    return gateway


def run_gateway(config: GatewayConfig) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code."""
    from subwarden.config.loader import ConfigError
    from subwarden.http.serve import serve
    from subwarden.observe.subject_hash import SubjectHashKeyError, load_subject_hash_key
    from subwarden.pipeline.build import build_gateway

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:  # fail fast with a clean message on config problems, before any worker starts
        checked = build_gateway(config)
        # Each worker's record writer loads it again; a bad one must stop start-up here, not a worker.
        load_subject_hash_key(config.identity.subject_hash_key_env, RECORDS_VAR_DIR)
    except (ConfigError, SubjectHashKeyError) as exc:
        log.error("%s", exc)
        return 2
    if config.listen.workers <= 1:  # same process: serve the gateway just built
        return serve(config, lambda: build_serving_gateway(config, checked))
    # Forked workers build their own: nothing built before the fork is shared with them.
    return serve(config, lambda: build_serving_gateway(config))
