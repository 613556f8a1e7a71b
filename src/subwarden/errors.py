"""The failure catalog: one class per failure, each with a stable code.

Every way a request can be refused or fail is a subclass of ``GatewayError``
listed in ``CATALOG``. A class carries its snake_case ``code``, HTTP
``status``, pipeline ``stage``, a generic public ``title`` (safe to send to a
client) and an operator ``hint`` (for records, diagnose and docs). Instances
carry ``detail``: facts for the call record, never sent to a client unless
disclosure is configured.

    GatewayError
     ├── token failures (extract / verify / validate)  → 401, jwks_unavailable 503
     ├── identity failures (map / resolve)              → 401/403, store_* 503
     ├── policy failures (revocation / authorize)       → 401/403
     ├── routing and HTTP protocol failures             → 4xx
     └── upstream failures (proxy)                      → 502/504
"""

from __future__ import annotations

from typing import Any, ClassVar

#: RFC 9457 ``type`` of every problem response: this base + the error's code.
PROBLEM_TYPE_BASE = "https://subwarden.dev/errors/"


class GatewayError(Exception):
    """Base of every catalogued failure."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    stage: ClassVar[str] = "gateway"
    title: ClassVar[str] = "Internal gateway error"
    hint: ClassVar[str] = "An unexpected exception; the record holds its type. Please report it."
    retry_after: ClassVar[int | None] = None
    #: RFC 6750 error attribute for WWW-Authenticate ("" = none, None = no header).
    bearer_error: ClassVar[str | None] = None

    def __init__(self, reason: str = "", **detail: Any) -> None:
        super().__init__(reason or self.title)
        self.reason = reason or self.title
        self.detail: dict[str, Any] = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


# ---------------------------------------------------------------- token: extract
class _TokenError(GatewayError):
    status = 401
    stage = "extract"
    bearer_error = "invalid_token"


class TokenMissing(_TokenError):
    code = "token_missing"
    title = "Authentication required"
    hint = "No bearer token in the Authorization header (or the configured cookie)."
    bearer_error = ""


class TokenConflict(_TokenError):
    code = "token_conflict"
    title = "Invalid token"
    bearer_error = "invalid_request"
    hint = "The request carried two different tokens (several Authorization headers, or header and cookie differ)."


class AuthorizationSchemeInvalid(_TokenError):
    code = "authorization_scheme_invalid"
    title = "Invalid authorization header"
    bearer_error = "invalid_request"
    hint = "The Authorization header is not of the form 'Bearer <token>'."


class TokenTooLarge(_TokenError):
    code = "token_too_large"
    title = "Invalid token"
    hint = "The token exceeds the configured size limit (tokens.max_bytes, default 8 KiB)."


class TokenMalformed(_TokenError):
    code = "token_malformed"
    title = "Invalid token"
    hint = "The token is not a compact JWS (three base64url parts with JSON header and payload)."


class TokenEncodingInvalid(_TokenError):
    code = "token_encoding_invalid"
    title = "Invalid token"
    hint = "A token part uses base64url padding, non-alphabet characters or a non-canonical encoding."


class TokenDuplicateKey(_TokenError):
    code = "token_duplicate_key"
    title = "Invalid token"
    hint = "The token header or payload repeats a JSON key; parsers disagree on which wins, so it is refused."


# ---------------------------------------------------------------- token: verify
class _VerifyError(_TokenError):
    stage = "verify"


class IssuerUnknown(_VerifyError):
    code = "issuer_unknown"
    title = "Invalid token"
    hint = "The token's iss matches no configured issuer (exact match). Check issuers[].issuer."


class AlgorithmNotAllowed(_VerifyError):
    code = "algorithm_not_allowed"
    title = "Invalid token"
    hint = "The token's alg is not in the issuer's allow-list (issuers[].algorithms), or does not fit the key type."


class KeyNotFound(_VerifyError):
    code = "key_not_found"
    title = "Invalid token"
    hint = "No key of the issuer has the token's kid, even after refetching the JWKS."


class SignatureInvalid(_VerifyError):
    code = "signature_invalid"
    title = "Invalid token"
    hint = "The signature does not verify with the issuer's key: tampered token or wrong key."


class JwksUnavailable(_VerifyError):
    code = "jwks_unavailable"
    status = 503
    retry_after = 5
    bearer_error = None  # type: ignore[assignment]  # 503: no WWW-Authenticate
    title = "Authentication temporarily unavailable"
    hint = "The issuer's JWKS/discovery endpoint is unreachable and no usable cached key exists."


# ---------------------------------------------------------------- token: validate
class _ClaimsError(_TokenError):
    stage = "validate"


class TokenExpired(_ClaimsError):
    code = "token_expired"
    title = "Token expired"
    hint = "exp is in the past beyond the leeway. Check the client's refresh logic or clock skew."


class TokenNotYetValid(_ClaimsError):
    code = "token_not_yet_valid"
    title = "Invalid token"
    hint = "nbf is in the future beyond the leeway: clock skew between issuer and gateway?"


class TokenIssuedInFuture(_ClaimsError):
    code = "token_iat_invalid"
    title = "Invalid token"
    hint = "iat is in the future beyond the leeway, or older than issuers[].max_token_age."


class ClaimTypeInvalid(_ClaimsError):
    code = "claim_type_invalid"
    title = "Invalid token"
    hint = "A registered claim has the wrong JSON type (e.g. exp given as a string)."


class AudienceInvalid(_ClaimsError):
    code = "audience_invalid"
    title = "Invalid token"
    hint = "The token's aud does not contain any of the issuer's configured audiences."


class ClaimMissing(_ClaimsError):
    code = "claim_missing"
    title = "Invalid token"
    hint = "A required claim is absent; the IdP usually adds it only when the client asks for the right scope."


class ClaimRuleFailed(_ClaimsError):
    code = "claim_rule_failed"
    title = "Invalid token"
    hint = "A configured claim rule (equals / one_of / contains / regex) did not hold."


# ---------------------------------------------------------------- identity: map
class _MapError(GatewayError):
    status = 401
    stage = "map"
    bearer_error = "invalid_token"


class SubjectMissing(_MapError):
    code = "subject_missing"
    title = "Invalid token"
    hint = "The subject claim is absent or empty; the record lists the claims present. Check IdP scopes."


class SubjectMalformed(_MapError):
    code = "subject_malformed"
    title = "Invalid token"
    hint = "The subject is not a string or fails the configured shape check (uuid / email / regex)."


# ---------------------------------------------------------------- identity: resolve
class _ResolveError(GatewayError):
    stage = "resolve"


class UserNotFound(_ResolveError):
    code = "user_not_found"
    status = 401
    bearer_error = "invalid_token"
    title = "User from sub claim in JWT does not exist"
    hint = "No user has this key. Run `subwarden diagnose` for near misses (case, whitespace, attribute, environment)."


class SubjectAmbiguous(_ResolveError):
    code = "subject_ambiguous"
    status = 401
    bearer_error = "invalid_token"
    title = "Invalid token"
    hint = "More than one user matches the subject (after normalization); refusing to guess."


class UserDisabled(_ResolveError):
    code = "user_disabled"
    status = 403
    title = "User account is not active"
    hint = "The user exists but is disabled in the store."


class UserLocked(_ResolveError):
    code = "user_locked"
    status = 403
    title = "User account is not active"
    hint = "The user exists but is locked (e.g. too many failed logins, AD lockout, pwdAccountLockedTime)."


class UserDeleted(_ResolveError):
    code = "user_deleted"
    status = 403
    title = "User account is not active"
    hint = "The user is marked deleted in the store; tokens issued before the deletion are still in circulation."


class _StoreError(_ResolveError):
    status = 503
    retry_after = 5
    title = "Identity store temporarily unavailable"


class StoreUnavailable(_StoreError):
    code = "store_unavailable"
    hint = "The user store refused or dropped the connection (down, DNS, TLS, network). Not a missing user."


class StoreAuthFailed(_StoreError):
    code = "store_auth_failed"
    hint = "The user store rejected the gateway's credentials (password, bind DN, service token)."


class StoreMisconfigured(_StoreError):
    code = "store_misconfigured"
    hint = "The store answered but the mapping is wrong: unknown table, column, attribute or a malformed query/filter."


class StoreTimeout(_StoreError):
    code = "store_timeout"
    hint = "The lookup exceeded identity.store.timeout. Check store latency and pool saturation."


class StoreCircuitOpen(_StoreError):
    code = "store_circuit_open"
    hint = "The store's circuit breaker is open after consecutive failures; lookups resume after the probe."


# ---------------------------------------------------------------- policy
class TokenRevoked(GatewayError):
    code = "token_revoked"
    status = 401
    stage = "revocation"
    bearer_error = "invalid_token"
    title = "Token revoked"
    hint = "The token's jti, or all tokens of its subject issued before a cut-off, are revoked."


class InsufficientRole(GatewayError):
    code = "insufficient_role"
    status = 403
    stage = "authorize"
    bearer_error = "insufficient_scope"
    title = "Insufficient permissions"
    hint = "The route requires roles/scopes/groups the user or token lacks."



# ---------------------------------------------------------------- routing and HTTP protocol
class RouteNotFound(GatewayError):
    code = "route_not_found"
    status = 404
    stage = "route"
    title = "Not found"
    hint = "No route matches the request's host, path and method."


class _HttpError(GatewayError):
    stage = "http"
    status = 400


class RequestInvalid(_HttpError):
    code = "request_invalid"
    title = "Bad request"
    hint = "The request is not valid HTTP/1.1 (parse error, smuggling shape such as CL+TE, bad framing)."



class HeadersTooLarge(_HttpError):
    code = "headers_too_large"
    status = 431
    title = "Request header fields too large"
    hint = "The request head exceeds listen.limits.max_header_bytes or max_headers."


class BodyTooLarge(_HttpError):
    code = "body_too_large"
    status = 413
    title = "Content too large"
    hint = "The request body exceeds the route's max_body_bytes."


class RequestTimeout(_HttpError):
    code = "request_timeout"
    status = 408
    title = "Request timeout"
    hint = "The client was too slow sending the request head or body (slowloris protection)."


class ExpectationFailed(_HttpError):
    code = "expectation_failed"
    status = 417
    title = "Expectation failed"
    hint = "Only 'Expect: 100-continue' is supported."


# ---------------------------------------------------------------- upstream
class UpstreamUnavailable(GatewayError):
    code = "upstream_unavailable"
    status = 502
    stage = "proxy"
    title = "Bad gateway"
    hint = "The upstream refused the connection, closed it early or sent an invalid response (or a head over 64 KiB)."


class UpstreamTimeout(GatewayError):
    code = "upstream_timeout"
    status = 504
    stage = "proxy"
    title = "Gateway timeout"
    hint = "The upstream did not connect or answer within the route's timeouts."


# ---------------------------------------------------------------- control plane (admin API)
class _AdminError(GatewayError):
    stage = "admin"


class AdminDisabled(_AdminError):
    code = "admin_disabled"
    status = 503
    title = "Admin API disabled"
    hint = "No admin token is set: export the variable named by admin.token_env to enable the /admin/* endpoints."


class AdminUnauthorized(_AdminError):
    code = "admin_unauthorized"
    status = 401
    bearer_error = "invalid_token"
    title = "Authentication required"
    hint = "The /admin/* request has no admin bearer token, or a wrong one (compared in constant time)."


class AdminRequestInvalid(_AdminError):
    code = "admin_request_invalid"
    status = 400
    title = "Bad request"
    hint = "The admin API request body or query does not fit the endpoint; the response's detail names the field."


class InternalError(GatewayError):
    """Fallback for a bug: the client sees a generic 500, the record the exception type."""


CATALOG: tuple[type[GatewayError], ...] = (
    TokenMissing,
    TokenConflict,
    AuthorizationSchemeInvalid,
    TokenTooLarge,
    TokenMalformed,
    TokenEncodingInvalid,
    TokenDuplicateKey,
    IssuerUnknown,
    AlgorithmNotAllowed,
    KeyNotFound,
    SignatureInvalid,
    JwksUnavailable,
    TokenExpired,
    TokenNotYetValid,
    TokenIssuedInFuture,
    ClaimTypeInvalid,
    AudienceInvalid,
    ClaimMissing,
    ClaimRuleFailed,
    SubjectMissing,
    SubjectMalformed,
    UserNotFound,
    SubjectAmbiguous,
    UserDisabled,
    UserLocked,
    UserDeleted,
    StoreUnavailable,
    StoreAuthFailed,
    StoreMisconfigured,
    StoreTimeout,
    StoreCircuitOpen,
    TokenRevoked,
    InsufficientRole,
    RouteNotFound,
    RequestInvalid,
    HeadersTooLarge,
    BodyTooLarge,
    RequestTimeout,
    ExpectationFailed,
    UpstreamUnavailable,
    UpstreamTimeout,
    AdminDisabled,
    AdminUnauthorized,
    AdminRequestInvalid,
    InternalError,
)

BY_CODE: dict[str, type[GatewayError]] = {cls.code: cls for cls in CATALOG}

STORE_ERRORS: tuple[type[GatewayError], ...] = (
    StoreUnavailable,
    StoreAuthFailed,
    StoreMisconfigured,
    StoreTimeout,
    StoreCircuitOpen,
)

#: Control-plane failures: reached through the admin API, never by a data-plane request.
ADMIN_ERRORS: tuple[type[GatewayError], ...] = (AdminDisabled, AdminUnauthorized, AdminRequestInvalid)
