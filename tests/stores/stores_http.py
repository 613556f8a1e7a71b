"""The HTTP backend fixture: ``stores_user_service.py`` as a real process serving ``USERS`` from a
JSON file in a temp dir, with a bearer token; stoppable and restartable on the same port."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stores_harness import Harness
from stores_proxy import free_port
from stores_tls import TlsFiles
from stores_users import USERS

SERVICE = Path(__file__).parent / "stores_user_service.py"

#: Canned answers the HTTP-only tests ask for by subject.
RESPONSES = {
    "boom": {"status": 500, "body": "{}"},
    "busy": {"status": 503, "body": "{}"},
    "slow-down": {"status": 429, "body": "{}"},
    "teapot": {"status": 418, "body": "{}"},
    "not-json": {"status": 200, "body": "<html>oops</html>"},
    "a-list": {"status": 200, "body": "[1, 2]"},
    "no-users-key": {"status": 200, "body": "{\"people\": []}"},
    "no-id": {"status": 200, "body": "{\"users\": [{\"status\": \"active\", \"roles\": [], \"email\": null,"
                                     " \"name\": null}]}"},
}


class HttpHarness(Harness):
    name = "http"

    def __init__(self, workdir: Path, tls: TlsFiles | None = None) -> None:
        self.dir = workdir
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.token = secrets.token_urlsafe(16)
        self.env = {"SW_TEST_HTTP_TOKEN": self.token, "SW_TEST_HTTP_WRONG": "not-" + self.token}
        self.renamed_lookup = {"lookup": {"user_id": "user_ident", "email": "email"}}
        self.renamed_attribute = {"attributes": {"email": "email", "name": "full_name"}}
        self.wrong_credentials = {"http": {"bearer_token_env": "SW_TEST_HTTP_WRONG"}}
        self._port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def base(self) -> dict[str, Any]:
        return {
            "url": f"{self.scheme}://127.0.0.1:{self._port}",
            "id_field": "user_id",
            "status_field": "status",
            "status_since_field": None,
            "roles_field": "roles",
            "lookup": {"user_id": "user_id", "email": "email"},
            "attributes": {"email": "email", "name": "name"},
            "timeout": 2.0,
            "pool_size": 4,
            "http": {
                "url_template": "{base}/lookup/{attribute}/{value}",
                "users_key": "users",
                "bearer_token_env": "SW_TEST_HTTP_TOKEN",
            },
        }

    def url_at(self, port: int) -> str:
        return f"{self.scheme}://127.0.0.1:{port}"

    @property
    def port(self) -> int:
        return self._port

    async def stop(self) -> dict[str, Any]:
        self._stop()
        return {}

    async def resume(self) -> None:
        self._start()

    def setup(self) -> None:
        users = [{"user_id": u.user_id, "status": u.status, "roles": list(u.roles), "email": u.email, "name": u.name}
                 for u in USERS]
        (self.dir / "users.json").write_text(json.dumps({"users": users, "responses": RESPONSES}))
        self._start()

    def teardown(self) -> None:
        self._stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _start(self) -> None:
        env = {**os.environ, "USER_SERVICE_TOKEN": self.token}
        if self.tls:
            env.update(USER_SERVICE_CERT=str(self.tls.cert), USER_SERVICE_KEY=str(self.tls.key))
        self.process = subprocess.Popen(
            [sys.executable, str(SERVICE), str(self._port), str(self.dir / "users.json")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"user service exited: {err[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self._port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("user service did not listen within 10s")

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
