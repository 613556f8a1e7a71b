"""The data plane: an HTTP/1.1 proxy core on uvloop + httptools (llhttp) with its own upstream pool."""

from subwarden.http.problem import ProblemRenderer, problem_response
from subwarden.http.serve import serve
from subwarden.http.server import DataPlane

__all__ = ["DataPlane", "ProblemRenderer", "problem_response", "serve"]
