"""Validated configuration: every field has a description, a default and a constraint.

Models are frozen and reject unknown keys; cross-field rules live in model
validators at the bottom of each model. The loader (``config.loader``) turns
validation errors into messages naming the file and key path.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Seconds = Annotated[float, Field(gt=0, le=86_400)]
PositiveInt = Annotated[int, Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=False)


# ---------------------------------------------------------------- listen
class HttpLimits(Strict):
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576, description="Largest request head (request line + headers) in bytes; beyond it the answer is 431.")
    max_headers: int = Field(100, ge=8, le=1000, description="Most header fields in one request; beyond it the answer is 431.")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=0, description="Largest request body in bytes (default for routes); beyond it the answer is 413.")
    header_timeout: Seconds = Field(10.0, description="Seconds a client may take to send a complete request head (slowloris guard); then 408.")
    body_timeout: Seconds = Field(30.0, description="Seconds a client may stay silent while sending a body; then 408.")
    idle_timeout: Seconds = Field(60.0, description="Seconds an idle keep-alive client connection is kept open.")
    max_pipelined: int = Field(32, ge=1, le=1024, description="Most pipelined requests buffered per connection before reading pauses.")


class ListenConfig(Strict):
    host: str = Field("127.0.0.1", description="Address the data plane binds to.")
    port: int = Field(8080, ge=0, le=65535, description="Port the data plane binds to (0 = any free port).")
    workers: int = Field(1, ge=1, le=256, description="Worker processes sharing the port via SO_REUSEPORT.")
    backlog: int = Field(1024, ge=16, le=65535, description="Listen backlog.")
    drain_timeout: Seconds = Field(10.0, description="Seconds to finish in-flight requests after SIGTERM before closing.")
    trusted_proxies: list[str] = Field(default_factory=list, description="CIDRs whose X-Forwarded-For is extended rather than replaced.")
    limits: HttpLimits = Field(default_factory=HttpLimits, description="Request size and timing limits.")


# ---------------------------------------------------------------- issuers
class KeySources(Strict):
    files: list[str] = Field(default_factory=list, description="PEM or JWK/JWKS files with the issuer's verification keys, read once at start-up.")
    jwks_uri: str | None = Field(None, description="JWKS URL; keys are fetched at start-up and refetched on an unknown kid.")
    discovery: bool = Field(False, description="Fetch <issuer>/.well-known/openid-configuration to find jwks_uri.")
    secret_env: str | None = Field(None, description="Environment variable holding an HMAC secret (for HS* algorithms); never put the secret in the file.")
    refresh_interval: Seconds = Field(300.0, description="Seconds between background JWKS refreshes.")
    refetch_cooldown: Seconds = Field(30.0, description="Minimum seconds between refetches triggered by unknown kids.")
    max_stale: Seconds = Field(86_400.0, description="Seconds cached JWKS keys stay usable while the endpoint is down.")
    fetch_timeout: Seconds = Field(3.0, description="Seconds allowed for one JWKS or discovery fetch.")

    @model_validator(mode="after")
    def _some_source(self) -> KeySources:
        if not (self.files or self.jwks_uri or self.discovery or self.secret_env):
            raise ValueError("give at least one key source: files, jwks_uri, discovery or secret_env")
        return self


Algorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
]


class ClaimRule(Strict):
    claim: str = Field(description="Claim name (dotted path for nested objects, e.g. realm_access.roles).")
    equals: str | int | bool | None = Field(None, description="The claim must equal this value.")
    one_of: list[str | int] | None = Field(None, description="The claim must be one of these values.")
    contains: str | None = Field(None, description="The claim (a list, or a space-separated string) must contain this value.")
    regex: str | None = Field(None, description="The claim (a string) must fully match this regular expression.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ClaimRule:
        given = [n for n in ("equals", "one_of", "contains", "regex") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("a claim rule needs exactly one of equals, one_of, contains, regex")
        if self.regex is not None:
            re.compile(self.regex)
        return self


class MappingRule(Strict):
    claim: str = Field(description="Token claim carrying the subject (e.g. sub, email, oid, preferred_username).")
    attribute: str = Field(description="Store lookup attribute it is matched against (a key of identity.store.lookup).")


class SubjectShape(Strict):
    kind: Literal["any", "uuid", "email", "regex"] = Field("any", description="Shape the subject must have before any query: any, uuid, email or regex.")
    pattern: str | None = Field(None, description="Regular expression for kind=regex (full match).")
    max_length: int = Field(256, ge=1, le=4096, description="Longest subject accepted.")

    @model_validator(mode="after")
    def _pattern_for_regex(self) -> SubjectShape:
        if (self.kind == "regex") != (self.pattern is not None):
            raise ValueError("pattern is required for kind=regex and only allowed there")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self


class Normalization(Strict):
    trim: bool = Field(False, description="Strip leading/trailing whitespace from the subject before lookup.")
    casefold: bool = Field(False, description="Compare case-insensitively (Unicode casefold). Off by default: exact match.")
    strip_prefix: str | None = Field(None, description="Remove this prefix from the subject if present (e.g. 'auth0|').")


class IssuerConfig(Strict):
    name: str = Field("", description="Short name for records and metrics; defaults to the issuer URL.")
    issuer: str = Field(description="Exact iss value; selects this issuer's config.")
    audiences: list[str] = Field(default_factory=list, description="Accepted aud values (any one must be present). Empty = aud not checked.")
    algorithms: list[Algorithm] = Field(default_factory=lambda: ["RS256"], min_length=1, description="Algorithm allow-list; the token's alg must be in it and fit the key.")  # type: ignore[arg-type]
    keys: KeySources = Field(description="Where verification keys come from.")
    leeway: float = Field(30.0, ge=0, le=3600, description="Seconds of clock skew tolerated for exp, nbf and iat.")
    max_token_age: float | None = Field(None, gt=0, description="Reject tokens whose iat is older than this many seconds.")
    required_claims: list[str] = Field(default_factory=lambda: ["exp"], description="Claims that must be present.")
    claim_rules: list[ClaimRule] = Field(default_factory=list, description="Extra conditions on claims.")
    mapping: list[MappingRule] = Field(default_factory=lambda: [MappingRule(claim="sub", attribute="user_id")], min_length=1, description="Ordered claim → store attribute rules; a match through a later rule is recorded as a fallback.")
    normalization: Normalization = Field(default_factory=Normalization, description="Opt-in subject normalization.")
    subject_shape: SubjectShape = Field(default_factory=SubjectShape, description="Shape check applied to the subject before any query.")

    @model_validator(mode="after")
    def _hmac_needs_secret(self) -> IssuerConfig:
        uses_hmac = any(a.startswith("HS") for a in self.algorithms)
        uses_asym = any(not a.startswith("HS") for a in self.algorithms)
        if uses_hmac and uses_asym:
            raise ValueError("do not mix HMAC and public-key algorithms in one issuer (key confusion)")
        if uses_hmac and not self.keys.secret_env and not self.keys.files:
            raise ValueError("HS* algorithms need keys.secret_env or an oct JWK file")
        return self

    @property
    def label(self) -> str:
        return self.name or self.issuer


class TokensConfig(Strict):
    cookie: str | None = Field(None, description="Also accept the token from this cookie.")
    max_bytes: int = Field(8192, ge=256, le=65_536, description="Largest token accepted, in bytes.")
    verified_cache_size: int = Field(100_000, ge=0, description="Verified tokens kept (key: the token); 0 disables the cache.")


# ---------------------------------------------------------------- identity
class UserStatusValues(Strict):
    active: list[str] = Field(default_factory=lambda: ["active"], description="Status values meaning active.")
    disabled: list[str] = Field(default_factory=lambda: ["disabled"], description="Status values meaning disabled.")
    locked: list[str] = Field(default_factory=lambda: ["locked"], description="Status values meaning locked.")
    deleted: list[str] = Field(default_factory=lambda: ["deleted"], description="Status values meaning deleted.")


class LdapOptions(Strict):
    bind_dn: str | None = Field(None, description="DN to bind as (None = anonymous bind).")
    bind_password: SecretStr | None = Field(None, description="Bind password; prefer bind_password_env.")
    bind_password_env: str | None = Field(None, description="Environment variable holding the bind password.")
    base_dns: list[str] = Field(default_factory=list, min_length=0, description="Search bases, tried in order.")
    scope: Literal["base", "one", "sub"] = Field("sub", description="Search scope.")
    object_filter: str = Field("(objectClass=*)", description="Filter ANDed with the lookup; the subject is never put here.")
    start_tls: bool = Field(False, description="Upgrade ldap:// with StartTLS.")
    ca_file: str | None = Field(None, description="CA bundle for ldaps/StartTLS.")
    group_search_base: str | None = Field(None, description="Base for group search (roles from groups whose member is the user's DN).")
    group_filter: str = Field("(member={dn})", description="Group filter; {dn} is inserted RFC 4515-escaped.")
    group_name_attribute: str = Field("cn", description="Group attribute used as role name.")
    ad_user_account_control: bool = Field(False, description="Read AD userAccountControl (bit 2 = disabled) and lockoutTime.")
    size_limit: int = Field(2, ge=2, le=1000, description="Size limit per search (2 is enough to detect ambiguity).")
    follow_referrals: bool = Field(False, description="Follow LDAP referrals.")


class HttpStoreOptions(Strict):
    url_template: str = Field("{base}/users/{value}", description="Lookup URL; {base} is identity.store.url, {attribute} and {value} are path-escaped.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers (non-secret).")
    bearer_token_env: str | None = Field(None, description="Environment variable holding a bearer token for the user service.")
    users_key: str | None = Field(None, description="If the JSON answer is a list under this key, it is treated as matches.")
    ca_file: str | None = Field(None, description="CA bundle to verify an https:// user service (default: the system's trusted CAs).")


class StoreConfig(Strict):
    url: str = Field("sqlite:///var/users.db", description="Store URL; the scheme selects the backend (sqlite, postgresql, mysql, ldap, ldaps, http, https). Env SUBWARDEN_STORE_URL overrides it.")
    password_env: str | None = Field(None, description="Environment variable holding the store password (inserted into the URL at connect time).")
    table: str = Field("users", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="SQL table (or view) holding users.")
    id_field: str = Field("user_id", description="Field holding the canonical user id (SQL column, LDAP attribute, JSON key).")
    status_field: str | None = Field("status", description="Field holding the user status; None = every found user is active.")
    status_since_field: str | None = Field(None, description="Field holding when the status last changed (shown by diagnose).")
    roles_field: str | None = Field("roles", description="Field holding roles (comma/space separated text, JSON list or array).")
    lookup: dict[str, str] = Field(default_factory=lambda: {"user_id": "user_id"}, description="Lookup attribute (used by mapping rules) → store field.")
    attributes: dict[str, str] = Field(default_factory=dict, description="Extra user attributes exposed to routes (name → store field).")
    query: str | None = Field(None, description="Custom parametrized SQL returning the id/status/roles/attribute fields; :value is the bound subject and :attribute the lookup attribute name.")
    status_values: UserStatusValues = Field(default_factory=UserStatusValues, description="Which stored values mean which status.")
    timeout: Seconds = Field(2.0, description="Per-lookup time budget in seconds; beyond it the answer is store_timeout (503).")
    pool_size: int = Field(10, ge=1, le=500, description="Connections kept in the pool.")
    canary_subject: str | None = Field(None, description="Subject the readiness self-test resolves.")
    breaker_failures: int = Field(5, ge=1, le=1000, description="Consecutive failures that open the circuit breaker.")
    breaker_reset: Seconds = Field(10.0, description="Seconds the breaker stays open before a half-open probe.")
    ldap: LdapOptions = Field(default_factory=LdapOptions, description="LDAP/AD options (ldap:// and ldaps:// stores).")
    http: HttpStoreOptions = Field(default_factory=HttpStoreOptions, description="HTTP user-service options (http:// and https:// stores).")

    @field_validator("lookup")
    @classmethod
    def _lookup_nonempty(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("lookup needs at least one attribute")
        return v


class CacheConfig(Strict):
    positive_ttl: float = Field(60.0, ge=0, le=86_400, description="Seconds a found user is cached (0 = no caching).")
    negative_ttl: float = Field(5.0, ge=0, le=3600, description="Seconds a not-found answer is cached; keep it short.")
    max_entries: int = Field(1_000_000, ge=0, description="Most users cached (LRU beyond).")
    stale_if_error: float = Field(0.0, ge=0, le=86_400, description="Serve the last good cached user for at most this many seconds while the store is failing (0 = off).")


class IdentityConfig(Strict):
    store: StoreConfig = Field(default_factory=StoreConfig, description="Where users are resolved.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="User cache.")
    subject_hash_key_env: str = Field("SUBWARDEN_SUBJECT_HASH_KEY", description="Environment variable with the key for keyed hashes of subjects in records.")


# ---------------------------------------------------------------- routes
class UnknownUserPolicy(StrEnum):
    deny = "deny"
    anonymous = "anonymous"
    shadow = "shadow"


class RouteMatch(Strict):
    host: str | None = Field(None, description="Host header (without port) to match; None = any.")
    path_prefix: str = Field("/", pattern=r"^/", description="Path prefix to match (segment-aware: /api matches /api and /api/x, not /apix).")
    methods: list[str] = Field(default_factory=list, description="Methods to match; empty = any.")


class UpstreamConfig(Strict):
    targets: list[str] = Field(min_length=1, description="Upstream base URLs (http://host:port[/prefix]), used round-robin.")
    connect_timeout: Seconds = Field(2.0, description="Seconds to connect to a target.")
    read_timeout: Seconds = Field(30.0, description="Seconds to wait for the upstream's response head, and between body chunks.")
    pool_size: int = Field(256, ge=1, le=65_536, description="Idle keep-alive connections kept per target.")
    strip_prefix: bool = Field(False, description="Remove the matched path prefix before forwarding.")

    @field_validator("targets")
    @classmethod
    def _http_targets(cls, v: list[str]) -> list[str]:
        for t in v:
            if not re.match(r"^http://[^/\s]+(/.*)?$", t):
                raise ValueError(f"target {t!r} must be http://host:port[/prefix]")
        return v


class AuthPolicy(Strict):
    required_roles: list[str] = Field(default_factory=list, description="Roles required (from the store's roles and/or the token).")
    required_scopes: list[str] = Field(default_factory=list, description="Scopes required (token scope/scp claim).")
    required_groups: list[str] = Field(default_factory=list, description="Groups required (token groups claim and/or store groups).")
    match: Literal["any", "all"] = Field("all", description="Whether any one or all of the required values must be held.")
    roles_from: Literal["store", "token", "both"] = Field("both", description="Where roles are read from.")
    role_claim: str = Field("roles", description="Token claim with roles (dotted path allowed).")
    unknown_user: UnknownUserPolicy = Field(UnknownUserPolicy.deny, description="deny | anonymous (forward without identity) | shadow (forward, record the would-be denial).")


class HeaderPolicy(Strict):
    strip: list[str] = Field(default_factory=list, description="Client headers removed on this route, in addition to the global identity headers.")
    set_from_claims: dict[str, str] = Field(default_factory=dict, description="Header name → token claim to send upstream.")
    set_from_attributes: dict[str, str] = Field(default_factory=dict, description="Header name → user attribute to send upstream.")
    forward_authorization: bool = Field(True, description="Forward the client's Authorization header upstream.")


class RouteConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Route name for records and metrics.")
    match: RouteMatch = Field(default_factory=RouteMatch, description="What requests this route takes.")
    upstream: UpstreamConfig = Field(description="Where accepted requests go.")
    auth: AuthPolicy = Field(default_factory=AuthPolicy, description="Authorization policy.")
    headers: HeaderPolicy = Field(default_factory=HeaderPolicy, description="Header strip/set policy.")
    max_body_bytes: int | None = Field(None, ge=0, description="Body limit for this route (default: listen.limits.max_body_bytes).")


class HeadersConfig(Strict):
    identity_headers: list[str] = Field(
        default_factory=lambda: ["X-User-Id", "X-User-Roles", "X-User-Email", "X-Subject", "X-Issuer", "X-Authenticated-User", "X-Remote-User", "X-Forwarded-User"],
        description="Headers stripped from every client request on every route (the gateway sets its own).",
    )
    user_id: str = Field("X-User-Id", description="Header carrying the resolved user id upstream.")
    roles: str = Field("X-User-Roles", description="Header carrying the user's roles upstream (comma-separated).")


# ---------------------------------------------------------------- errors, records, admin
class ErrorPolicy(Strict):
    user_not_found_status: Literal[401, 403] = Field(401, description="Status for user_not_found.")
    inactive_user_status: Literal[401, 403] = Field(403, description="Status for user_disabled / user_locked / user_deleted.")
    disclose_detail: bool = Field(False, description="Put the failure reason in the response's detail (never token contents).")
    realm: str = Field("subwarden", description="realm in WWW-Authenticate.")


class RecordsConfig(Strict):
    stdout: bool = Field(False, description="Write one JSON line per request to stdout.")
    sqlite: str | None = Field("var/records.db", description="SQLite file for records (None = off).")
    queue_size: int = Field(65_536, ge=16, description="Records buffered in memory before drops (counted).")
    batch_size: int = Field(512, ge=1, le=65_536, description="Records written per batch.")
    flush_interval: Seconds = Field(0.5, description="Seconds between flushes.")
    retention_days: float = Field(7.0, gt=0, description="Days records are kept in SQLite.")
    keep_claims: list[str] = Field(default_factory=lambda: ["iss", "sub"], description="Claims kept in records for replay, in addition to every issuer's mapping claims (personal data: see docs/records.md).")


class AdminConfig(Strict):
    enabled: bool = Field(True, description="Serve the control plane (admin API, metrics, dashboard).")
    host: str = Field("127.0.0.1", description="Control-plane bind address.")
    port: int = Field(9090, ge=0, le=65535, description="Control-plane port.")
    token_env: str = Field("SUBWARDEN_ADMIN_TOKEN", description="Environment variable with the admin API bearer token.")


class GatewayConfig(Strict):
    listen: ListenConfig = Field(default_factory=ListenConfig, description="Data-plane listener.")
    issuers: list[IssuerConfig] = Field(min_length=1, description="Trusted token issuers.")
    tokens: TokensConfig = Field(default_factory=TokensConfig, description="Token extraction and caching.")
    identity: IdentityConfig = Field(default_factory=IdentityConfig, description="User store, mapping and cache.")
    routes: list[RouteConfig] = Field(min_length=1, description="Routes, matched most specific first.")
    headers: HeadersConfig = Field(default_factory=HeadersConfig, description="Identity header policy.")
    errors: ErrorPolicy = Field(default_factory=ErrorPolicy, description="How failures are answered.")
    records: RecordsConfig = Field(default_factory=RecordsConfig, description="Call records.")
    admin: AdminConfig = Field(default_factory=AdminConfig, description="Control plane.")

    @property
    def recorded_claims(self) -> tuple[str, ...]:
        """Claims records keep: ``records.keep_claims`` plus every issuer's mapping claims (for replay)."""
        names = list(self.records.keep_claims)
        for issuer in self.issuers:
            names += [rule.claim for rule in issuer.mapping if rule.claim not in names]
        return tuple(names)

    @model_validator(mode="after")
    def _cross_checks(self) -> GatewayConfig:
        seen: set[str] = set()
        for iss in self.issuers:
            if iss.issuer in seen:
                raise ValueError(f"issuer {iss.issuer!r} is configured twice")
            seen.add(iss.issuer)
            for rule in iss.mapping:
                if rule.attribute not in self.identity.store.lookup:
                    raise ValueError(f"issuer {iss.label!r} maps claim {rule.claim!r} to attribute {rule.attribute!r}, which is not in identity.store.lookup {sorted(self.identity.store.lookup)}")
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("route names must be unique")
        return self
