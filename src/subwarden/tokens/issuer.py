"""A trusted issuer at run time: its config, allowed algorithm objects, keys and claim policy."""

from __future__ import annotations

import warnings
from typing import Any

from joserfc.jws import JWSRegistry

from subwarden.config.models import IssuerConfig
from subwarden.tokens.claims import ClaimPolicy
from subwarden.tokens.jwks import IssuerKeys


def algorithm_models(names: list[str]) -> dict[str, Any]:
    """joserfc algorithm objects for an allow-list, resolved once (never from a token)."""
    registry = JWSRegistry(algorithms=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EdDSA carries a deprecation SecurityWarning (RFC 9864)
        return {name: registry.get_alg(name) for name in names}


class IssuerRuntime:
    """Everything the verify and validate stages need about one issuer, built at start-up."""

    __slots__ = ("algorithms", "config", "keys", "label", "policy")

    def __init__(self, config: IssuerConfig, keys: IssuerKeys) -> None:
        self.config = config
        self.label = config.label
        self.keys = keys
        #: alg name → joserfc JWSAlgModel, only for the issuer's allow-list.
        self.algorithms: dict[str, Any] = algorithm_models(list(config.algorithms))
        self.policy = ClaimPolicy(config)

    def __repr__(self) -> str:
        return f"IssuerRuntime({self.label!r})"
