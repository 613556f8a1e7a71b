"""The dry-run upstream: what the proxy would send for an admitted request, without sending anything."""

from __future__ import annotations

from typing import Any

from subwarden.pipeline.context import RequestContext


def would_send(ctx: RequestContext) -> dict[str, Any] | None:
    """URL, identity headers and stripped header names the proxy would use; None if not admitted."""
    route = ctx.route
    if route is None or ctx.error is not None or not route.targets:
        return None
    target = route.targets[0]
    path = target.path_prefix + route.upstream_path(ctx.path)
    url = f"http://{target.authority}{path}" + (f"?{ctx.query}" if ctx.query else "")
    headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in ctx.identity_headers]
    if route.forward_authorization and ctx.token is not None:
        headers.append(["authorization", "Bearer [redacted]"])
    return {
        "method": ctx.method,
        "url": url,
        "targets": [f"http://{t.authority}{t.path_prefix}" for t in route.targets],
        "identity_headers": headers,
        "stripped_from_client": sorted(h.decode("latin-1") for h in route.strip_headers),
        "forward_authorization": route.forward_authorization,
        "anonymous": ctx.anonymous,
    }
