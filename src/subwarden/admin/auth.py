"""Bearer-token guard for /admin/*: the token comes from an environment variable, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from starlette.requests import Request

from subwarden.admin.problems import AdminProblem
from subwarden.errors import AdminDisabled, AdminUnauthorized


class AdminAuth:
    """Checks ``Authorization: Bearer <token>``; with no token configured every check answers admin_disabled."""

    __slots__ = ("_expected", "env_var")

    def __init__(self, env_var: str, environ: Mapping[str, str] | None = None) -> None:
        self.env_var = env_var
        value = (os.environ if environ is None else environ).get(env_var, "").strip()
        self._expected = _digest(value) if value else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def check(self, request: Request) -> None:
        """Return if the request carries the admin token; raise ``AdminProblem`` otherwise."""
        if self._expected is None:
            raise AdminProblem(AdminDisabled(), f"set {self.env_var} to enable the admin API")
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if not header:
            raise AdminProblem(AdminUnauthorized(), bearer_error="")
        valid = hmac.compare_digest(_digest(presented.strip()), self._expected)
        if scheme.lower() != "bearer" or not valid:
            raise AdminProblem(AdminUnauthorized())


def _digest(token: str) -> bytes:
    # Equal-length digests: the comparison time reveals neither the token nor its length.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
