"""Route matching: host, segment-aware path prefix, method; most specific first."""

from __future__ import annotations

import pytest

from subwarden.config import parse_config
from subwarden.errors import RouteNotFound
from subwarden.pipeline.context import RequestContext
from subwarden.pipeline.routing import RouteStage, RouteTable


def table() -> RouteTable:
    cfg = parse_config(
        {
            "issuers": [{"issuer": "https://idp.test", "keys": {"files": ["k.pem"]}}],
            "routes": [
                {"name": "root", "upstream": {"targets": ["http://127.0.0.1:1"]}},
                {"name": "api", "match": {"path_prefix": "/api"}, "upstream": {"targets": ["http://127.0.0.1:2"]}},
                {
                    "name": "api-write",
                    "match": {"path_prefix": "/api", "methods": ["POST"]},
                    "upstream": {"targets": ["http://127.0.0.1:3/v1"]},
                },
                {
                    "name": "admin-host",
                    "match": {"host": "admin.test", "path_prefix": "/"},
                    "upstream": {"targets": ["http://127.0.0.1:4"], "strip_prefix": True},
                    "headers": {"strip": ["X-Debug"]},
                },
            ],
        },
        env={},
    )
    return RouteTable.from_config(cfg)


@pytest.mark.parametrize(
    ("host", "path", "method", "expected"),
    [
        ("gw.test", "/", "GET", "root"),
        ("gw.test", "/api", "GET", "api"),
        ("gw.test", "/api/users", "GET", "api"),
        ("gw.test", "/apix", "GET", "root"),
        ("gw.test", "/api/users", "POST", "api-write"),
        ("admin.test:8080", "/api", "GET", "admin-host"),
        ("ADMIN.test", "/", "GET", "admin-host"),
    ],
)
def test_most_specific_route_wins(host: str, path: str, method: str, expected: str) -> None:
    route = table().match(host, path, method)
    assert route is not None and route.name == expected


def test_route_strip_headers_include_global_identity_headers_and_route_extras() -> None:
    route = table().match("admin.test", "/", "GET")
    assert route is not None
    assert {b"x-user-id", b"x-user-roles", b"x-debug"} <= route.strip_headers
    assert route.targets[0].authority == "127.0.0.1:4"


def test_route_stage_raises_route_not_found_when_nothing_matches() -> None:
    cfg = parse_config(
        {
            "issuers": [{"issuer": "https://idp.test", "keys": {"files": ["k.pem"]}}],
            "routes": [{"name": "only", "match": {"path_prefix": "/only"}, "upstream": {"targets": ["http://127.0.0.1:1"]}}],
        },
        env={},
    )
    stage = RouteStage(RouteTable.from_config(cfg))
    ctx = RequestContext("GET", "/other", [], host="gw.test")
    with pytest.raises(RouteNotFound):
        stage.run(ctx)
    ctx = RequestContext("GET", "/only/x", [], host="gw.test")
    stage.run(ctx)
    assert ctx.route is not None and ctx.route.name == "only"


def test_a_table_whose_first_route_takes_everything_answers_it_for_any_request() -> None:
    cfg = parse_config(
        {
            "issuers": [{"issuer": "https://idp.test", "keys": {"files": ["k.pem"]}}],
            "routes": [{"name": "all", "upstream": {"targets": ["http://127.0.0.1:1"]}}],
        },
        env={},
    )
    routes = RouteTable.from_config(cfg)
    for host, path, method in [("gw.test", "/", "GET"), ("[::1]:8080", "/a/b?c", "DELETE"), ("", "", "PATCH")]:
        route = routes.match(host, path, method)
        assert route is not None and route.name == "all"
    assert RouteTable([]).match("gw.test", "/", "GET") is None
