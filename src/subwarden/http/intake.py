"""The RequestContext of a parsed request head (ids, trace, client address) and of a refused one."""

from __future__ import annotations

from time import perf_counter_ns
from typing import TYPE_CHECKING

from subwarden.http.forward import Peer
from subwarden.http.head import RequestHead
from subwarden.pipeline.context import RequestContext

if TYPE_CHECKING:
    from subwarden.http.server import DataPlane


def request_context(
    plane: DataPlane, head: RequestHead, headers: list[tuple[bytes, bytes]], peer: Peer
) -> RequestContext:
    """The context the pipeline admits; ``headers`` have lower-cased names."""
    trace_id, traceparent = plane.ids.trace(head.traceparent)
    return RequestContext(
        head.method,
        head.path,
        headers,
        host=head.host,
        query=head.query,
        client_ip=plane.client_ip(peer, head.xff),
        request_id=plane.ids.request_id(head.request_id),
        trace_id=trace_id,
        traceparent=traceparent,
        started_ns=perf_counter_ns(),
    )


def refused_request(plane: DataPlane, method: str, url: bytes, peer: Peer) -> tuple[RequestHead, RequestContext]:
    """Head and context for a request refused before its head was valid (answered, then closed)."""
    head = RequestHead(method, True)
    head.keep_alive = False
    path = url.partition(b"?")[0][:1024].decode("latin-1")
    trace_id, traceparent = plane.ids.trace(None)
    ctx = RequestContext(
        method,
        path,
        [],
        client_ip=peer.ip,
        request_id=plane.ids.request_id(None),
        trace_id=trace_id,
        traceparent=traceparent,
        started_ns=perf_counter_ns(),
    )
    return head, ctx
