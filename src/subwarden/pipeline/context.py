"""The per-request object every stage reads from and writes its own slot into."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from subwarden.errors import GatewayError
    from subwarden.identity.stores.base import UserRecord
    from subwarden.pipeline.routing import Route


def outcome_rule(error: GatewayError | None, status: int, shadow: GatewayError | None, anonymous: bool) -> str:
    """A finished request's outcome: error (5xx) / denied / shadow / anonymous / allowed.

    One rule for the data plane (``ctx.outcome``), records and the request counter's label.
    """
    if error is not None:
        return "error" if max(status, error.status) >= 500 else "denied"
    if shadow is not None:
        return "shadow"
    return "anonymous" if anonymous else "allowed"


class RequestContext:
    """State of one request as it moves through the pipeline.

    The data plane fills the request fields; each stage fills its own slot.
    ``facts`` is None when serving and a dict when diagnosing: stages add
    explanatory facts only when it is not None, so serving pays nothing.
    """

    __slots__ = (
        "admission_memo",
        "alg",
        "anonymous",
        "cache_age",
        "cache_state",
        "candidates",
        "claims",
        "client_ip",
        "error",
        "facts",
        "failed_stage",
        "headers",
        "host",
        "identity_headers",
        "issuer",
        "jose_header",
        "key_source",
        "kid",
        "mapping_claim",
        "mapping_fallback",
        "mapping_rule",
        "method",
        "outcome",
        "path",
        "query",
        "request_id",
        "roles",
        "route",
        "scheme",
        "shadow_error",
        "started_ns",
        "status",
        "subject",
        "subject_key",
        "timings",
        "token",
        "token_cache_hit",
        "token_source",
        "trace_id",
        "traceparent",
        "upstream_ms",
        "upstream_status",
        "upstream_target",
        "user",
    )

    def __init__(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        *,
        host: str = "",
        query: str = "",
        client_ip: str = "",
        scheme: str = "http",
        request_id: str = "",
        trace_id: str = "",
        traceparent: str = "",
        started_ns: int = 0,
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        #: Raw request headers, names lower-cased by the data plane.
        self.headers = headers
        self.host = host
        self.client_ip = client_ip
        self.scheme = scheme
        self.request_id = request_id
        self.trace_id = trace_id
        self.traceparent = traceparent
        self.started_ns = started_ns
        self.facts = facts
        self.timings: dict[str, int] = {}
        self.route: Route | None = None
        self.token: str | None = None
        self.token_source: str | None = None
        self.token_cache_hit = False
        self.jose_header: dict[str, Any] | None = None
        self.claims: dict[str, Any] | None = None
        self.issuer: Any = None  # tokens.issuer.IssuerRuntime once verified
        self.alg: str | None = None
        self.kid: str | None = None
        self.key_source: str | None = None
        self.subject: Any = None
        #: Ordered lookup candidates from the map stage (identity.mapping.Candidate).
        self.candidates: tuple[Any, ...] = ()
        self.subject_key: str | None = None
        self.mapping_claim: str | None = None
        self.mapping_rule: str | None = None
        self.mapping_fallback = False
        self.user: UserRecord | None = None
        self.cache_state: str | None = None
        self.cache_age: float | None = None
        self.roles: tuple[str, ...] = ()
        self.anonymous = False
        self.shadow_error: GatewayError | None = None
        self.identity_headers: list[tuple[bytes, bytes]] = []
        self.error: GatewayError | None = None
        self.failed_stage: str | None = None
        self.outcome: str | None = None
        self.status = 0
        self.upstream_status = 0
        self.upstream_target: str | None = None
        self.upstream_ms: float | None = None
        #: True when the admission memo answered (pipeline.memo): stages' results reused, ``timings`` left empty.
        self.admission_memo = False

    def identity_slots(self) -> tuple[Any, ...]:
        """What a call record's per-identity part is built from, besides the claims and the user."""
        return (
            self.issuer, self.subject, self.alg, self.kid, self.token_source, self.mapping_claim, self.mapping_rule,
            self.mapping_fallback,
        )

    def header_values(self, name: bytes) -> list[bytes]:
        """All values of a header (``name`` lower-case)."""
        return [v for n, v in self.headers if n == name]

    def fact(self, key: str, value: Any) -> None:
        """Record an explanatory fact when diagnosing; no-op when serving."""
        if self.facts is not None:
            self.facts[key] = value
