"""The data plane: an HTTP/1.1 proxy core on uvloop + httptools (llhttp) with its own upstream pool."""

from subwarden import native

# Before any submodule is imported: the mypyc build of the hot modules, when it matches the sources.
NATIVE = native.enable(__name__, __path__)

from subwarden.http.problem import ProblemRenderer, problem_response  # noqa: E402 - after native.enable
from subwarden.http.serve import serve  # noqa: E402
from subwarden.http.server import DataPlane  # noqa: E402

__all__ = ["DataPlane", "ProblemRenderer", "problem_response", "serve"]
