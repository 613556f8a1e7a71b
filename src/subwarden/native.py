"""The optional mypyc build of the hot modules: used only when it matches the current sources.

``scripts/build_native.py`` compiles ``NATIVE_MODULES`` into ``build/native`` and writes a stamp (a
hash of those sources and the interpreter). ``enable()`` puts the build in front of the Python
modules when the stamp matches; otherwise, or with ``SUBWARDEN_NATIVE=0``, the Python modules run.
``SUBWARDEN_NATIVE=1`` makes a missing or stale build an error instead of a silent fallback.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

#: Modules compiled by mypyc: the data plane's per-request code and the stages a new token runs
#: through, and the record shaper (the record thread shares the core: 140k -> 130k instructions a request
#: with records on; the writer and sinks stay Python, their time is in sqlite3). Module constants in these
#: are ``Final``: mypyc inlines or keeps those in C statics; any other global is a dict lookup per use.
#: Their packages call ``enable`` in ``__init__`` before importing any of them.
NATIVE_MODULES = (
    "subwarden.http.clientio",
    "subwarden.http.connection",
    "subwarden.http.exchange",
    "subwarden.http.forward",
    "subwarden.http.head",
    "subwarden.http.ids",
    "subwarden.http.intake",
    "subwarden.http.outbox",
    "subwarden.http.response",
    "subwarden.http.server",
    "subwarden.http.upstream",
    "subwarden.identity.authorize",
    "subwarden.identity.cache",
    "subwarden.identity.claims",
    "subwarden.identity.enrich",
    "subwarden.identity.mapping",
    "subwarden.identity.resolve",
    "subwarden.identity.revocation",
    "subwarden.observe.queue",
    "subwarden.observe.record_shape",
    "subwarden.pipeline.context",
    "subwarden.pipeline.memo",
    "subwarden.pipeline.routing",
    "subwarden.pipeline.stage",
    "subwarden.tokens.compact",
    "subwarden.tokens.cache",
    "subwarden.tokens.claims",
    "subwarden.tokens.extract",
    "subwarden.tokens.validate",
    "subwarden.tokens.verify",
)
_PACKAGE = Path(__file__).resolve().parent
#: Where the build lives: build/native at the repository root (a source checkout or editable install).
NATIVE_DIR = Path(os.environ.get("SUBWARDEN_NATIVE_DIR") or _PACKAGE.parents[1] / "build" / "native")
ENV = "SUBWARDEN_NATIVE"


class NativeBuildError(RuntimeError):
    """SUBWARDEN_NATIVE=1 but the build is missing or does not match the sources."""


def stamp_path(directory: Path) -> Path:
    return directory / "SOURCES.sha256"


def source_stamp() -> str:
    """Hash of the compiled modules' sources and the interpreter they were built for."""
    digest = hashlib.sha256(sys.implementation.cache_tag.encode())
    for name in NATIVE_MODULES:
        path = _PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def native_state() -> str:
    """'off' (disabled), 'missing', 'stale' or 'current'."""
    if os.environ.get(ENV, "") == "0":
        return "off"
    stamp = stamp_path(NATIVE_DIR)
    if not stamp.is_file():
        return "missing"
    return "current" if stamp.read_text().strip() == source_stamp() else "stale"


#: ``native_state()`` as first seen by ``enable``: every package decides alike, and the sources are hashed once.
_decided: list[str] = []


def enable(package: str, package_path: list[str]) -> bool:
    """Put the build in front of ``package_path`` (the ``__path__`` of ``package``) if it is current."""
    if not _decided:
        _decided.append(native_state())
    state = _decided[0]
    if state != "current":
        if os.environ.get(ENV, "") == "1":
            raise NativeBuildError(f"{ENV}=1 but the native build is {state}: run `make native`")
        return False
    root = str(NATIVE_DIR)
    if root not in sys.path:
        sys.path.append(root)  # mypyc's shared runtime module lives at the build's top level
    package_path.insert(0, str(NATIVE_DIR.joinpath(*package.split("."))))
    return True


def active() -> bool:
    """Whether this process runs the compiled modules (all of them, or none, are loaded from the build)."""
    import importlib

    files = [importlib.import_module(name).__file__ or "" for name in NATIVE_MODULES]
    compiled = [not f.endswith(".py") for f in files]
    if any(compiled) and not all(compiled):
        raise NativeBuildError(f"a mix of compiled and Python modules: {files}")
    return all(compiled)
