"""Config → running gateway. The one place serve and diagnose both build the pipeline."""

from __future__ import annotations

from typing import Any

from subwarden.clock import SYSTEM_CLOCK, Clock
from subwarden.config.loader import fingerprint
from subwarden.config.models import GatewayConfig
from subwarden.identity.build import build_identity
from subwarden.identity.stores.base import UserStore
from subwarden.pipeline.gateway import Gateway, Recorder, discard_record
from subwarden.pipeline.memo import MEMO_MAX_ENTRIES, AdmissionMemo
from subwarden.pipeline.routing import RouteStage, RouteTable
from subwarden.pipeline.stage import Pipeline, Tracer
from subwarden.tokens.build import build_tokens


def build_gateway(
    config: GatewayConfig,
    *,
    clock: Clock = SYSTEM_CLOCK,
    store: UserStore | None = None,
    tracer: Tracer | None = None,
    record: Recorder | None = None,
    key_fetcher: Any = None,
    revocations: Any = None,
) -> Gateway:
    """Build every stage from validated config; config mistakes raise ``ConfigError`` here."""
    routes = RouteTable.from_config(config)
    tokens = build_tokens(config, clock, key_fetcher)
    identity = build_identity(config, clock, store=store, revocations=revocations)
    stages = [RouteStage(routes), *tokens.stages, *identity.stages]
    memo = None
    cache = config.identity.cache
    # Only without a tracer (diagnose), without a token cookie (it can conflict with the header: always
    # extracted) and with both caches on (an answer is reused only while both still hold its entries).
    remembers = config.tokens.verified_cache_size > 0 and cache.positive_ttl > 0 and cache.max_entries > 0
    if tracer is None and not config.tokens.cookie and remembers:
        memo = AdmissionMemo(
            routes=routes, verified=tokens.cache, users=identity.cache, revocations=identity.revocations,
            enrich=identity.enrich, clock=clock,
            max_entries=min(config.tokens.verified_cache_size, MEMO_MAX_ENTRIES),
        )
        identity.admission_memo = memo
    pipeline = Pipeline(stages, tracer, memo)
    return Gateway(
        config=config,
        fingerprint=fingerprint(config),
        routes=routes,
        pipeline=pipeline,
        record=record or discard_record,
        runtimes=[tokens, identity],
        tokens=tokens,
        identity=identity,
    )
