"""Pure LDAP text handling: RFC 4515 filter escaping, filter building, DN → RDN value, referral URLs.

The subject only ever enters a filter through ``escape_filter_value``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from subwarden.config.loader import ConfigError

# RFC 4512 attribute description: a name (or numeric OID) with optional ;options.
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*$")
_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("*()\\")


def escape_filter_value(value: str) -> str:
    """RFC 4515 assertion value: ``* ( ) \\``, NUL, controls and every non-ASCII byte of the
    UTF-8 encoding become ``\\XX``, so the result is plain ASCII with no filter syntax in it."""
    out = []
    for ch in value:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"\\{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


def check_attribute(name: str, where: str) -> str:
    """``name`` if it is a valid attribute description, else a ``ConfigError`` naming ``where``."""
    if not _ATTRIBUTE.match(name):
        raise ConfigError(f"{where}: {name!r} is not an LDAP attribute name")
    return name


def check_filter(text: str, where: str) -> str:
    """A minimal well-formedness check for an operator-written filter: parenthesised and balanced."""
    depth = 0
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                break
    if not (text.startswith("(") and text.endswith(")")) or depth != 0:
        raise ConfigError(f"{where}: {text!r} is not a parenthesised LDAP filter")
    return text


def lookup_filter(object_filter: str, field: str, value: str) -> str:
    """``(&<object_filter>(<field>=<escaped value>))``."""
    return f"(&{object_filter}({field}={escape_filter_value(value)}))"


def group_filter(template: str, dn: str) -> str:
    """The group search filter with ``{dn}`` replaced by the escaped member DN."""
    return template.replace("{dn}", escape_filter_value(dn))


def rdn_value(dn: str) -> str:
    """The value of a DN's first RDN, unescaped (``cn=Admins\\, EU,ou=g`` → ``Admins, EU``).

    Text that is not a DN is returned unchanged.
    """
    if "=" not in dn:
        return dn
    raw = bytearray()
    i = dn.index("=") + 1
    while i < len(dn):
        ch = dn[i]
        if ch in ",+;":
            break
        if ch == "\\" and i + 1 < len(dn):
            pair = dn[i + 1 : i + 3]
            if re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                raw.append(int(pair, 16))
                i += 3
                continue
            raw.extend(dn[i + 1].encode())
            i += 2
            continue
        raw.extend(ch.encode())
        i += 1
    return raw.decode("utf-8", "replace").strip()


@dataclass(frozen=True, slots=True)
class LdapUrl:
    """Where an ``ldap://`` / ``ldaps://`` URL points (RFC 4516; only host, port and base DN used)."""

    host: str
    port: int
    use_ssl: bool
    base_dn: str | None

    @classmethod
    def parse(cls, url: str) -> LdapUrl:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError(f"not an ldap:// or ldaps:// URL with a host: {url!r}")
        base = unquote(parts.path.lstrip("/")) or None
        port = parts.port or (636 if scheme == "ldaps" else 389)
        return cls(host=parts.hostname, port=port, use_ssl=scheme == "ldaps", base_dn=base)
