"""The control plane for an assembled gateway: its store, cache, revocations and record reader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette

from subwarden.admin.app import build_admin_app
from subwarden.admin.protocols import Diagnose, RecordStats
from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.observe.build import record_reader
from subwarden.observe.metrics import GatewayMetrics
from subwarden.pipeline.gateway import Gateway


def admin_app_for_gateway(
    gateway: Gateway,
    *,
    records: RecordStats | None = None,
    metrics: GatewayMetrics | None = None,
    diagnose: Diagnose | None = None,
    clock: Clock = SYSTEM_CLOCK,
    environ: Mapping[str, str] | None = None,
) -> Starlette:
    """``build_admin_app`` with the collaborators ``gateway`` holds (``identity.store/cache/revocations``)."""
    identity: Any = gateway.identity
    return build_admin_app(
        gateway.config,
        gateway.fingerprint,
        metrics=metrics,
        store=getattr(identity, "store", None),
        records=records,
        record_search=record_reader(gateway.config),
        cache=getattr(identity, "cache", None),
        revocations=getattr(identity, "revocations", None),
        diagnose=diagnose,
        clock=clock,
        environ=environ,
    )
