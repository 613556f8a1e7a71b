"""A small real HTTP user service for the store tests, serving users from a JSON file.

    python stores_user_service.py PORT USERS.json      (bearer token, if any, from $USER_SERVICE_TOKEN;
                                                        HTTPS if $USER_SERVICE_CERT/$USER_SERVICE_KEY name PEM files)

GET /users/<id>                  → the user object, or 404
GET /lookup/<attribute>/<value>  → {"users": [...]} of users whose <attribute> equals <value> exactly
The file's "responses" object maps a value to a canned {"status", "body"} answer (errors, bad JSON).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

SEARCHABLE = ("user_id", "email")


class Handler(BaseHTTPRequestHandler):
    data: dict[str, Any] = {}
    token: str | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.token and self.headers.get("Authorization") != f"Bearer {self.token}":
            return self.reply(401, {"error": "unauthorized"})
        if "?" in self.path or "#" in self.path:
            return self.reply(400, {"error": "no query strings here"})
        parts = [unquote(p, errors="strict") for p in self.path.split("/")[1:]]
        if len(parts) == 2 and parts[0] == "users":
            return self.answer("user_id", parts[1], single=True)
        if len(parts) == 3 and parts[0] == "lookup" and parts[1] in SEARCHABLE:
            return self.answer(parts[1], parts[2], single=False)
        return self.reply(400, {"error": "unknown path"})

    def answer(self, attribute: str, value: str, single: bool) -> None:
        canned = self.data.get("responses", {}).get(value)
        if canned is not None:
            return self.reply(canned["status"], canned["body"], raw=True)
        users = [u for u in self.data["users"] if u.get(attribute) == value]
        if single:
            return self.reply(200, users[0]) if users else self.reply(404, {"error": "not found"})
        return self.reply(200, {"users": users})

    def reply(self, status: int, body: Any, raw: bool = False) -> None:
        payload = (body if raw else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def main() -> None:
    port, path = int(sys.argv[1]), Path(sys.argv[2])
    Handler.data = json.loads(path.read_text())
    Handler.token = os.environ.get("USER_SERVICE_TOKEN")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    if os.environ.get("USER_SERVICE_CERT"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.environ["USER_SERVICE_CERT"], os.environ["USER_SERVICE_KEY"])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
