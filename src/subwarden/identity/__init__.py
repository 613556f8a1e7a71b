"""Identity: subject mapping, user stores, the user cache, revocation, authorization and identity headers."""

from subwarden import native

# Before any submodule is imported: the mypyc build of the per-request identity stages, when current.
NATIVE = native.enable(__name__, __path__)
