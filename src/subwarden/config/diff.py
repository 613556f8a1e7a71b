"""Semantic difference between two configs: what changed, grouped by what it affects, secrets stripped.

Lists with an identity (issuers by ``issuer``, routes by ``name``) are matched by it, not by
position, so reordering is not a change; ordered lists (mapping rules, audiences) compare whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from subwarden.config.loader import fingerprint, redact_url
from subwarden.config.models import GatewayConfig

ChangeKind = Literal["added", "removed", "changed"]
Raw = list[tuple[str, ChangeKind, Any, Any]]

#: Sections in display order; ``section_of`` assigns every path to one of them.
SECTIONS: tuple[str, ...] = (
    "issuers",
    "keys",
    "claim mapping",
    "normalization",
    "store",
    "cache",
    "timeouts",
    "routes",
    "headers",
    "errors",
    "records",
    "listen",
    "admin",
    "tokens",
)

_KEYED_LISTS: dict[str, str] = {"issuers": "issuer", "routes": "name"}
#: A path's top-level key (with its ``[identity]``, which may contain dots) and the rest.
_PATH = re.compile(r"^([A-Za-z_]+(?:\[[^\]]*\])?)\.?(.*)$")
_STORE_TIMEOUT_FIELDS = {"timeout", "breaker_failures", "breaker_reset"}


@dataclass(frozen=True, slots=True)
class Change:
    section: str
    path: str
    kind: ChangeKind
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "path": self.path,
            "kind": self.kind,
            "before": self.before,
            "after": self.after,
        }


@dataclass(slots=True)
class ConfigDiff:
    fingerprint_a: str
    fingerprint_b: str
    changes: list[Change] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.changes

    def in_sections(self, *sections: str) -> list[Change]:
        return [c for c in self.changes if c.section in sections]

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprints": {"a": self.fingerprint_a, "b": self.fingerprint_b},
            "identical": self.identical,
            "changes": [c.to_json() for c in self.changes],
        }


def diff_configs(a: GatewayConfig, b: GatewayConfig) -> ConfigDiff:
    """Every semantic change from ``a`` to ``b``, secrets stripped, sorted by section."""
    raw: Raw = []
    _walk(public_view(a), public_view(b), "", raw)
    changes = [Change(section_of(path), path, kind, before, after) for path, kind, before, after in raw]
    order = {name: i for i, name in enumerate(SECTIONS)}
    changes.sort(key=lambda c: order.get(c.section, len(order)))
    return ConfigDiff(fingerprint(a), fingerprint(b), changes)


def public_view(config: GatewayConfig) -> dict[str, Any]:
    """The config as JSON data with secrets stripped: store URL passwords, SecretStr values."""
    data: dict[str, Any] = config.model_dump(mode="json")
    return _strip_secrets(data)  # type: ignore[no-any-return]


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if _is_secret_key(k) and v is not None else _strip_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v) for v in value]
    if isinstance(value, str) and "@" in value and "://" in value:
        return _redact_any_url(value)
    return value


def _is_secret_key(key: str) -> bool:
    return key in {"bind_password", "password", "secret", "client_secret"}


def _redact_any_url(value: str) -> str:
    try:
        if urlsplit(value).password is None:
            return value
    except ValueError:
        return value
    return redact_url(value)


def _walk(a: Any, b: Any, path: str, out: Raw) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in b:
                out.append((sub, "removed", a[key], None))
            elif key not in a:
                out.append((sub, "added", None, b[key]))
            else:
                _walk(a[key], b[key], sub, out)
        return
    id_field = _KEYED_LISTS.get(path)
    if id_field and isinstance(a, list) and isinstance(b, list):
        _walk_keyed(a, b, path, id_field, out)
        return
    if a != b:
        out.append((path, "changed", a, b))


def _walk_keyed(a: list[Any], b: list[Any], path: str, id_field: str, out: Raw) -> None:
    by_a = {item[id_field]: item for item in a}
    by_b = {item[id_field]: item for item in b}
    for key in [*by_a, *(k for k in by_b if k not in by_a)]:
        sub = f"{path}[{key}]"
        if key not in by_b:
            out.append((sub, "removed", by_a[key], None))
        elif key not in by_a:
            out.append((sub, "added", None, by_b[key]))
        else:
            _walk(by_a[key], by_b[key], sub, out)


def section_of(path: str) -> str:
    """The section a changed path belongs to (what the change affects)."""
    match = _PATH.match(path)
    head, rest = (match.group(1), match.group(2)) if match else (path, "")
    if head.startswith("issuers"):
        return _issuer_section(rest)
    if head.startswith("routes"):
        return "timeouts" if rest.startswith("upstream.") and rest.endswith("_timeout") else "routes"
    if head == "identity":
        return _identity_section(rest)
    if head == "listen" and "timeout" in rest:
        return "timeouts"
    return head


def _issuer_section(rest: str) -> str:
    first = rest.split(".", 1)[0]
    if first == "keys":
        return "keys"
    if first == "mapping":
        return "claim mapping"
    if first in {"normalization", "subject_shape"}:
        return "normalization"
    return "issuers"


def _identity_section(rest: str) -> str:
    part, _, leaf = rest.partition(".")
    if part == "cache":
        return "cache"
    if part == "store" and leaf in _STORE_TIMEOUT_FIELDS:
        return "timeouts"
    return "store"


def render_diff(diff: ConfigDiff, label_a: str = "A", label_b: str = "B") -> str:
    """Human form: fingerprints, then each section's changes (- removed, + added, ~ changed)."""
    lines = [
        f"config diff  {label_a} → {label_b}",
        f"fingerprints  {label_a}: {diff.fingerprint_a}   {label_b}: {diff.fingerprint_b}",
    ]
    if diff.identical:
        lines.append("no semantic differences")
        return "\n".join(lines) + "\n"
    section = ""
    for change in diff.changes:
        if change.section != section:
            section = change.section
            lines.append(section)
        lines.append("  " + describe_change(change))
    return "\n".join(lines) + "\n"


def describe_change(change: Change) -> str:
    if change.kind == "added":
        return f"+ {change.path}: {short(change.after)}"
    if change.kind == "removed":
        return f"- {change.path}: {short(change.before)}"
    return f"~ {change.path}: {short(change.before)} → {short(change.after)}"


def short(value: Any, limit: int = 160) -> str:
    """A compact one-line rendering; mapping rules read as claim→attribute."""
    if isinstance(value, list) and value and all(_is_rule(v) for v in value):
        text = "[" + ", ".join(f"{v['claim']}→{v['attribute']}" for v in value) + "]"
    elif isinstance(value, dict) and "issuer" in value and "keys" in value:
        text = _issuer_summary(value)
    elif isinstance(value, str):
        text = repr(value)
    else:
        import json

        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _issuer_summary(issuer: dict[str, Any]) -> str:
    keys = issuer.get("keys") or {}
    sources = [f"file:{f}" for f in keys.get("files") or []]
    if keys.get("jwks_uri"):
        sources.append(f"jwks:{keys['jwks_uri']}")
    if keys.get("discovery"):
        sources.append("discovery")
    if keys.get("secret_env"):
        sources.append(f"secret_env:{keys['secret_env']}")
    mapping = ", ".join(f"{m['claim']}→{m['attribute']}" for m in issuer.get("mapping") or [])
    audiences = issuer.get("audiences")
    return f"issuer {issuer['issuer']!r} keys [{', '.join(sources)}] audiences {audiences} mapping [{mapping}]"


def _is_rule(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"claim", "attribute"}
