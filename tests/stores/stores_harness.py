"""What the contract suite needs from each backend fixture: configs pointing at its real server,
the same seeded users, and ways to break it (stop it, wrong credentials, a renamed field)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from subwarden.config.models import StoreConfig
from subwarden.identity.stores.base import UserStore, create_store


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overrides``, recursing into nested dicts (ldap, http options)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Harness:
    """One backend with its seeded server. Subclasses fill in the specifics."""

    name: str = ""
    #: Reached over TCP (so it can be stopped, proxied, given wrong credentials).
    network: bool = True
    #: Environment the store reads secrets from (passwords, tokens).
    env: dict[str, str]
    #: Config overrides that rename the searched field / an attribute field to ones that don't exist.
    renamed_lookup: dict[str, Any]
    renamed_attribute: dict[str, Any]
    #: Config overrides with credentials the server rejects.
    wrong_credentials: dict[str, Any]

    def base(self) -> dict[str, Any]:
        raise NotImplementedError

    def url_at(self, port: int) -> str:
        """The store URL with the server's port replaced (a proxy, a closed port)."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        raise NotImplementedError

    def config(self, **overrides: Any) -> StoreConfig:
        return StoreConfig(**merge(self.base(), overrides))

    def store(self, **overrides: Any) -> UserStore:
        config = self.config(**overrides)
        if not self.network:
            return create_store(config)
        factory = type(create_store(config))
        return factory(config, env=self.env)  # type: ignore[call-arg]

    async def stop(self) -> dict[str, Any]:
        """Make the server unreachable; returns config overrides for the stopped store."""
        raise NotImplementedError

    async def resume(self) -> None:
        """Undo ``stop``."""
