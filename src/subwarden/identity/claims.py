"""Reading claims by name or dotted path, and turning claim values into lists of strings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

_ABSENT: Final = object()


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """The claim ``name`` (a literal key first, then a dotted path such as ``realm_access.roles``); None if absent."""
    value = claims.get(name, _ABSENT)
    if value is not _ABSENT:
        return value
    if "." not in name:
        return None
    node: Any = claims
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def string_list(value: Any) -> tuple[str, ...]:
    """A claim as a tuple of strings: a list of strings, or a space/comma separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p for p in value.replace(",", " ").split() if p)
    if isinstance(value, (list, tuple)):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()
