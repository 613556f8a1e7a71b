"""The admission pipeline: request context, stages and their runner, the admission memo."""

from subwarden import native

# Before any submodule is imported: the mypyc build of the per-request modules, when it matches the sources.
NATIVE = native.enable(__name__, __path__)
