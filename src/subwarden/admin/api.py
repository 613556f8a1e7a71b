"""The authenticated admin endpoints: error catalog, effective config, cache, revocations, records, diagnose."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from subwarden.admin.parse import find_issuer, invalid, json_object, parse_time, record_query, text_field
from subwarden.admin.problems import AdminProblem, json_response
from subwarden.admin.protocols import CacheControl, Diagnose, RecordSearch, RevocationControl
from subwarden.admin.redact import redacted_config
from subwarden.clock import Clock
from subwarden.config.models import GatewayConfig
from subwarden.errors import RouteNotFound
from subwarden.errors_doc import catalog_rows
from subwarden.identity.mapping import normalizer

log = logging.getLogger("subwarden.admin")

#: How long a jti revocation is kept when the caller gives no ``until`` (the token's exp is unknown here).
DEFAULT_JTI_RETENTION = 30 * 86_400.0


def not_served(what: str) -> AdminProblem:
    return AdminProblem(RouteNotFound(), f"{what} is not available in this gateway")


class AdminApi:
    """Endpoint handlers over the collaborators passed to ``build_admin_app``."""

    def __init__(
        self,
        config: GatewayConfig,
        fingerprint: str,
        *,
        clock: Clock,
        cache: CacheControl | None = None,
        revocations: RevocationControl | None = None,
        records: RecordSearch | None = None,
        diagnose: Diagnose | None = None,
    ) -> None:
        self.config = config
        self.fingerprint = fingerprint
        self.clock = clock
        self.cache = cache
        self.revocations = revocations
        self.records = records
        self.diagnose_fn = diagnose

    async def errors(self, request: Request) -> Response:
        return json_response({"errors": catalog_rows()})

    async def config_view(self, request: Request) -> Response:
        return json_response({"fingerprint": self.fingerprint, "config": redacted_config(self.config)})

    async def invalidate_cache(self, request: Request) -> Response:
        if self.cache is None:
            raise not_served("the user cache")
        data = await json_object(request)
        if data.get("all") is True:
            dropped, scope = self.cache.invalidate_all(), "all"
        elif "user_id" in data:
            dropped, scope = self.cache.invalidate_user(text_field(data, "user_id")), "user_id"
        elif "subject" in data:
            dropped, scope = self._invalidate_subject(data), "subject"
        else:
            raise invalid('give {"user_id": …}, {"subject": …, "issuer": …} or {"all": true}')
        log.info("admin: user cache invalidated (%s, %d entries)", scope, dropped)
        return json_response({"invalidated": dropped, "scope": scope})

    def _invalidate_subject(self, data: dict[str, Any]) -> int:
        assert self.cache is not None
        subject = text_field(data, "subject")
        issuer = find_issuer(self.config, data.get("issuer"))
        keys = {subject}
        normalize = normalizer(issuer.normalization)
        if normalize is not None:
            keys.add(normalize(subject))  # the cache is keyed by the normalized subject
        return sum(self.cache.invalidate_subject(issuer.label, key) for key in keys)

    async def revoke(self, request: Request) -> Response:
        if self.revocations is None:
            raise not_served("the revocation list")
        data = await json_object(request)
        issuer = find_issuer(self.config, data.get("issuer")).label
        now = self.clock.now()
        if "jti" in data:
            jti = text_field(data, "jti")
            until = parse_time(data["until"], "until") if "until" in data else now + DEFAULT_JTI_RETENTION
            await _maybe_await(self.revocations.revoke_jti(issuer, jti, until))
            log.info("admin: token revoked by jti (issuer %s)", issuer)
            return json_response({"revoked": "jti", "issuer": issuer, "jti": jti, "until": until})
        if "user_id" in data:
            user_id = text_field(data, "user_id")
            before = parse_time(data["before"], "before") if "before" in data else now
            await _maybe_await(self.revocations.revoke_subject(issuer, user_id, before))
            log.info("admin: tokens of a user revoked (issuer %s)", issuer)
            return json_response({"revoked": "user", "issuer": issuer, "user_id": user_id, "before": before})
        raise invalid('give {"jti": …, "issuer": …, "until": …} or {"user_id": …, "issuer": …, "before": …}')

    async def list_records(self, request: Request) -> Response:
        if self.records is None:
            raise not_served("the record store (records.sqlite)")
        query = record_query(request)
        found = await asyncio.to_thread(self.records.query, query)
        return json_response({"records": found, "count": len(found)})

    async def diagnose(self, request: Request) -> Response:
        # The body holds a token: it is never logged, and failures are reported by type only.
        if self.diagnose_fn is None:
            raise not_served("diagnose")
        result = await self.diagnose_fn(await json_object(request))
        return json_response(result)


async def _maybe_await(result: object) -> None:
    if inspect.isawaitable(result):
        await result
