"""Stage 'map': the token's claims → ordered store-lookup candidates, checked before any query.

Each issuer's rules, normalization and shape check are compiled once. Errors
name claims, never their values (a subject is personal data).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from subwarden.config.models import IssuerConfig, Normalization, SubjectShape
from subwarden.errors import SubjectMalformed, SubjectMissing
from subwarden.identity.claims import claim_value
from subwarden.pipeline.context import RequestContext

_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")

CacheKey = tuple[str, str, str]


class Candidate:
    """One lookup to try: the claim's value under a rule, normalized, with its cache key."""

    __slots__ = ("attribute", "cache_key", "casefold", "claim", "index", "key", "raw", "rule")

    def __init__(self, index: int, claim: str, attribute: str, rule: str, raw: str, key: str,
                 casefold: bool, issuer: str) -> None:
        self.index = index
        self.claim = claim
        self.attribute = attribute
        self.rule = rule
        self.raw = raw
        self.key = key
        self.casefold = casefold
        self.cache_key: CacheKey = (issuer, attribute, key)

    def __repr__(self) -> str:
        return f"Candidate({self.rule!r}, key={self.key!r})"


def normalizer(norm: Normalization) -> Callable[[str], str] | None:
    """The issuer's normalization as one function (trim → strip prefix → casefold); None when off."""
    trim, prefix, fold = norm.trim, norm.strip_prefix, norm.casefold
    if not (trim or prefix or fold):
        return None

    def normalize(value: str) -> str:
        if trim:
            value = value.strip()
        if prefix and value.startswith(prefix):
            value = value[len(prefix):]
        return value.casefold() if fold else value

    return normalize


def shape_checker(shape: SubjectShape) -> Callable[[str], str | None]:
    """A check returning why ``value`` has the wrong shape, or None when it fits."""
    pattern = {"uuid": _UUID, "email": _EMAIL, "any": None}.get(shape.kind)
    if shape.kind == "regex" and shape.pattern is not None:
        pattern = re.compile(shape.pattern)
    limit, kind = shape.max_length, shape.kind

    def check(value: str) -> str | None:
        if len(value) > limit:
            return f"longer than max_length {limit}"
        if pattern is not None and pattern.fullmatch(value) is None:
            return f"does not have the {kind} shape"
        return None

    return check


_KNOWN_MAX: Final = 65_536  # claim sets whose candidates are remembered


class CompiledMapping:
    """One issuer's ordered rules; the shape kind applies to the first rule's claim, max_length to all."""

    __slots__ = ("casefold", "config", "label", "max_length", "normalize", "rules", "shape")

    def __init__(self, config: IssuerConfig) -> None:
        self.config = config
        self.label = config.label
        self.rules = tuple((r.claim, r.attribute, f"{r.claim}→{r.attribute}") for r in config.mapping)
        self.normalize = normalizer(config.normalization)
        self.casefold = config.normalization.casefold
        self.shape = shape_checker(config.subject_shape)
        self.max_length = shape_checker(SubjectShape(max_length=config.subject_shape.max_length))

    def candidates(self, claims: Mapping[str, Any]) -> tuple[Candidate, ...]:
        """The usable candidates in rule order; raises SubjectMalformed / SubjectMissing."""
        found: list[Candidate] = []
        normalize = self.normalize
        for index, (claim, attribute, rule) in enumerate(self.rules):
            raw = claims.get(claim)
            if raw is None and "." in claim:
                raw = claim_value(claims, claim)
            if raw is None:
                continue
            if not isinstance(raw, str):
                raise SubjectMalformed("subject claim is not a string", claim=claim, type=type(raw).__name__)
            key = normalize(raw) if normalize is not None else raw
            if not key or any(c.attribute == attribute and c.key == key for c in found):
                continue
            problem = (self.shape if index == 0 else self.max_length)(key)
            if problem is not None:
                raise SubjectMalformed(f"subject claim {problem}", claim=claim, shape=self.config.subject_shape.kind)
            found.append(Candidate(index, claim, attribute, rule, raw, key, self.casefold, self.label))
        if not found:
            raise self._missing(claims)
        return tuple(found)

    def _missing(self, claims: Mapping[str, Any]) -> SubjectMissing:
        expected = [claim for claim, _, _ in self.rules]
        return SubjectMissing(
            "no mapping claim carries a subject",
            claims_present=sorted(claims),
            expected=expected,
            empty=[c for c in expected if isinstance(claim_value(claims, c), str)],
        )


class MapSubjectStage:
    """Stage 'map': fills ``ctx.candidates`` and the primary subject slots."""

    name = "map"

    def __init__(self, issuers: Sequence[IssuerConfig]) -> None:
        self._mappings = {i.label: CompiledMapping(i) for i in issuers}
        #: id(claims) → (claims, mapping, candidates): a cached token's claims map the same way every time.
        self._known: dict[int, tuple[Mapping[str, Any], CompiledMapping, tuple[Candidate, ...]]] = {}

    def mapping_for(self, issuer: Any) -> CompiledMapping:
        mapping = self._mappings.get(issuer.label)
        if mapping is None or mapping.config is not issuer.config:
            mapping = self._mappings[issuer.label] = CompiledMapping(issuer.config)
        return mapping

    def run(self, ctx: RequestContext) -> Awaitable[None] | None:
        if ctx.anonymous:
            return None
        claims = ctx.claims or {}
        mapping = self.mapping_for(ctx.issuer)
        if ctx.facts is not None:
            ctx.fact("map.claims_present", sorted(claims))
            ctx.fact("map.rules", [rule for _, _, rule in mapping.rules])
            ctx.fact("map.normalization", mapping.config.normalization.model_dump())
        candidates = self._candidates(mapping, claims, ctx.token_cache_hit)
        ctx.candidates = candidates
        first = candidates[0]
        ctx.subject = first.raw
        ctx.subject_key = first.key
        ctx.mapping_claim = first.claim
        ctx.mapping_rule = first.rule
        if ctx.facts is not None:
            ctx.fact("map.candidates", [{"rule": c.rule, "claim": c.claim, "key": c.key} for c in candidates])
        return None

    def _candidates(
        self, mapping: CompiledMapping, claims: Mapping[str, Any], remember: bool
    ) -> tuple[Candidate, ...]:
        known = self._known.get(id(claims))
        if known is not None and known[0] is claims and known[1] is mapping:
            return known[2]
        candidates = mapping.candidates(claims)
        if not remember:  # only a cached token's claims dict comes round again
            return candidates
        if len(self._known) >= _KNOWN_MAX:
            self._known.clear()
        self._known[id(claims)] = (claims, mapping, candidates)
        return candidates
