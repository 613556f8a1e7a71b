"""Records, metrics, traces and analytics: what happened to each request, off the hot path."""

from subwarden import native

# Before any submodule is imported: the mypyc build of the record shaper, when it matches the sources.
NATIVE = native.enable(__name__, __path__)
