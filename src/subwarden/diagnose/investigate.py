"""Read-only searches the serving path never runs: near misses, key variants, other claims, cache bypass.

Every search is an exact lookup or the store's own ``near_misses``; a failing search is noted in
the evidence (by error code) and never stops the diagnosis.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from subwarden.config.loader import ConfigError
from subwarden.config.models import StoreConfig
from subwarden.diagnose.evidence import Evidence, Lookup, Match
from subwarden.diagnose.words import IDENTITY_CLAIMS, NON_IDENTITY_CLAIMS
from subwarden.errors import GatewayError
from subwarden.identity.stores.base import NearMiss, UserRecord, UserStore, create_store

log = logging.getLogger("subwarden.diagnose")
T = TypeVar("T")
_NONE: list[UserRecord] = []
_PREFIX_SEPARATORS = ("|", ":")
MAX_CLAIM_SEARCHES = 12


class Investigator:
    """Runs the searches for one diagnosis against ``store`` (with the store's timeout per search)."""

    def __init__(self, store: UserStore, ev: Evidence) -> None:
        self.store = store
        self.ev = ev
        self.timeout = max(ev.config.identity.store.timeout, 1.0)

    async def _safe(self, what: str, call: Callable[[], Awaitable[T]], default: T) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await call()
        except GatewayError as exc:
            self.ev.investigation_errors.append(f"{what}: {exc.code}")
        except TimeoutError:
            self.ev.investigation_errors.append(f"{what}: store_timeout")
        except NotImplementedError:
            pass
        except Exception as exc:  # noqa: BLE001 - a broken search must not stop the diagnosis
            log.warning("diagnose: %s failed with %s", what, type(exc).__name__)
            self.ev.investigation_errors.append(f"{what}: {type(exc).__name__}")
        return default

    async def lookup(self, attribute: str, value: str) -> list[UserRecord]:
        none: list[UserRecord] = []
        return await self._safe(f"lookup {attribute}", lambda: self.store.lookup(attribute, value), none)

    async def user_not_found(self, recheck: list[Lookup]) -> None:
        """Near misses and variants for every candidate; exact re-lookups for cached negatives; other claims."""
        for lk in recheck:
            for user in await self.lookup(lk.attribute, lk.key):
                self.ev.matches.append(Match("exact", lk, lk.attribute, lk.key, user))
        for lk in self.ev.lookups:
            await self.near_misses(lk)
            await self.variants(lk)
        await self.unfiltered()
        await self.other_claims()

    async def unfiltered(self) -> None:
        """Exact lookups without the custom query / LDAP object filter: is the user there but filtered out?"""
        config = unfiltered_config(self.ev.config.identity.store)
        if config is None:
            return
        try:
            store = create_store(config)
        except ConfigError:
            return
        try:
            for lk in self.ev.lookups:
                found = await self._safe("unfiltered lookup", partial(store.lookup, lk.attribute, lk.key), _NONE)
                self.ev.matches += [Match("unfiltered", lk, lk.attribute, lk.key, user) for user in found]
        finally:
            await store.close()

    async def recheck_cached_user(self) -> None:
        """A user answered from the cache: look the same key up in the store now (cache bypassed)."""
        user = self.ev.user
        lk = next((lk for lk in self.ev.lookups if self.ev.mapping_rule == f"{lk.claim}→{lk.attribute}"), None)
        if user is None or lk is None:
            return
        none: list[UserRecord] = []
        self.ev.user_now = await self._safe("cache recheck", partial(self.store.lookup, lk.attribute, lk.key), none)

    async def near_misses(self, lk: Lookup) -> None:
        none: list[NearMiss] = []
        misses = await self._safe("near misses", lambda: self.store.near_misses(lk.attribute, lk.key), none)
        self.ev.matches += [Match.from_near_miss(lk, m) for m in misses]

    async def variants(self, lk: Lookup) -> None:
        for kind, value, setting in key_variants(lk.key):
            for user in await self.lookup(lk.attribute, value):
                self.ev.matches.append(Match(kind, lk, lk.attribute, value, user, setting=setting))

    async def other_claims(self) -> None:
        """Exact lookups of the token's other identity-like claims under every lookup attribute."""
        tried = {(lk.attribute, lk.key) for lk in self.ev.lookups}
        found = {(m.attribute, m.value) for m in self.ev.matches}
        primary = self.ev.lookups[0] if self.ev.lookups else None
        for name, value in identity_claims(self.ev.claims)[:MAX_CLAIM_SEARCHES]:
            for attribute in self.ev.config.identity.store.lookup:
                if (attribute, value) in tried or (attribute, value) in found:
                    continue
                for user in await self.lookup(attribute, value):
                    lk = primary or Lookup(name, attribute, value)
                    kind = "other_attribute" if primary and name == primary.claim else "other_claim"
                    self.ev.matches.append(Match(kind, lk, attribute, value, user, claim=name))
                    found.add((attribute, value))

    async def self_test(self) -> None:
        canary = self.ev.config.identity.store.canary_subject
        started = time.perf_counter()
        report = await self._safe("self-test", lambda: self.store.self_test(canary), None)
        self.ev.facts["self_test_ms"] = round((time.perf_counter() - started) * 1000, 1)
        self.ev.self_test = report


def unfiltered_config(store: StoreConfig) -> StoreConfig | None:
    """The store config without its row filter (custom SQL query, LDAP object filter), or None if it has none."""
    if store.query is not None:
        return store.model_copy(update={"query": None})
    if store.url.lower().startswith("ldap") and store.ldap.object_filter != "(objectClass=*)":
        return store.model_copy(update={"ldap": store.ldap.model_copy(update={"object_filter": "(objectClass=*)"})})
    return None


def key_variants(key: str) -> list[tuple[str, str, str | None]]:
    """Exact-lookup variants of a key: other Unicode forms, and the key without a provider prefix."""
    out: list[tuple[str, str, str | None]] = []
    for form in ("NFC", "NFD"):
        other = unicodedata.normalize(form, key)
        if other != key:
            out.append((f"unicode_{form.lower()}", other, form))
    if "://" not in key:
        for sep in _PREFIX_SEPARATORS:
            head, found, rest = key.partition(sep)
            if found and head and rest:
                out.append(("strip_prefix", rest, head + sep))
                break
    return out


def identity_claims(claims: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The token's string claims that could identify a user, well-known ones first."""
    if not claims:
        return []
    names = [n for n in IDENTITY_CLAIMS if n in claims]
    names += sorted(n for n in claims if n not in names and n not in NON_IDENTITY_CLAIMS)
    return [(n, v) for n in names if isinstance(v := claims[n], str) and v.strip() and len(v) <= 512]
