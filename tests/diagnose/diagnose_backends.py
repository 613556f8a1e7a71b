"""Real user stores seeded with the same users: a SQLite file, a PostgreSQL table, an OpenLDAP tree.

Each backend creates its own file/table/directory and removes it afterwards; a missing server
fails loudly.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

#: user_id, email, status, status_since, roles — "zoë" is stored NFC.
USERS: list[tuple[str, str, str, str | None, str]] = [
    ("alice", "alice@example.com", "active", None, "user,admin"),
    ("bob", "bob@example.com", "disabled", "2027-01-10T00:00:00+00:00", "user"),
    ("carol", "carol@example.com", "locked", "2027-01-15T07:59:30+00:00", "user"),
    ("dave", "dave@example.com", "deleted", "2027-01-12T00:00:00+00:00", "user"),
    ("zo\u00eb", "zoe@example.com", "active", None, "user"),
    ("frank-7", "frank@example.com", "active", None, "user"),
]

STORE_FIELDS: dict[str, Any] = {
    "id_field": "user_id",
    "status_field": "status",
    "status_since_field": "status_since",
    "roles_field": "roles",
    "lookup": {"user_id": "user_id", "email": "email"},
    "timeout": 2.0,
    "pool_size": 2,
}


class Backend:
    name = ""

    def store(self, **overrides: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def add(self, user_id: str, email: str, status: str = "active") -> None:
        raise NotImplementedError

    async def remove(self, user_id: str) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, root: Path, users: list[tuple[str, str, str, str | None, str]] = USERS) -> None:
        self.path = root / f"users-{secrets.token_hex(3)}.db"
        with sqlite3.connect(self.path) as db:
            db.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, status TEXT, "
                       "status_since TEXT, roles TEXT)")
            db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?)", users)

    def store(self, **overrides: Any) -> dict[str, Any]:
        return {**STORE_FIELDS, "url": f"sqlite:///{self.path}", "table": "users", **overrides}

    async def add(self, user_id: str, email: str, status: str = "active") -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("INSERT INTO users VALUES (?, ?, ?, NULL, 'user')", (user_id, email, status))

    async def remove(self, user_id: str) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute("DELETE FROM users WHERE user_id = ?", (user_id,))


class PostgresBackend(Backend):
    """A uniquely named table in the ``test`` database (plus a password-protected role)."""

    name = "postgresql"

    def __init__(self, users: list[tuple[str, str, str, str | None, str]] = USERS) -> None:
        suffix = secrets.token_hex(4)
        self.table = f"sw_diag_users_{suffix}"
        self.role = f"sw_diag_role_{suffix}"
        self.password = secrets.token_urlsafe(12)
        asyncio.run(self._setup(users))

    async def _admin(self, *statements: str, args: list[tuple[Any, ...]] | None = None) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            for sql in statements:
                await conn.execute(sql)
            if args:
                await conn.executemany(
                    f"INSERT INTO {self.table} VALUES ($1, $2, $3, $4, $5)", args
                )
        finally:
            await conn.close()

    async def _setup(self, users: list[tuple[str, str, str, str | None, str]]) -> None:
        await self._admin(
            f"CREATE TABLE {self.table} (user_id TEXT PRIMARY KEY, email TEXT, status TEXT, "
            "status_since TEXT, roles TEXT)",
            f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}' IN ROLE subwarden_pw",
            f"GRANT SELECT ON {self.table} TO {self.role}",
            args=users,
        )

    def teardown(self) -> None:
        asyncio.run(self._admin(f"DROP TABLE IF EXISTS {self.table}", f"DROP ROLE IF EXISTS {self.role}"))

    def store(self, **overrides: Any) -> dict[str, Any]:
        return {**STORE_FIELDS, "url": PG_ADMIN, "table": self.table, **overrides}

    def role_url(self) -> str:
        return f"postgresql://{self.role}@127.0.0.1:5432/test"

    async def add(self, user_id: str, email: str, status: str = "active") -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f"INSERT INTO {self.table} VALUES ($1, $2, $3, NULL, 'user')",
                               user_id, email, status)
        finally:
            await conn.close()

    async def remove(self, user_id: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f"DELETE FROM {self.table} WHERE user_id = $1", user_id)
        finally:
            await conn.close()


MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "db": "test", "autocommit": True}


class MariadbBackend(Backend):
    """A uniquely named table in MariaDB's ``test`` database, with the server's default (case-insensitive)
    collation — the classic trap for exact matching."""

    name = "mariadb"

    def __init__(self, users: list[tuple[str, str, str, str | None, str]] = USERS) -> None:
        self.table = f"sw_diag_users_{secrets.token_hex(4)}"
        asyncio.run(self._run(
            f"CREATE TABLE {self.table} (user_id VARCHAR(191) PRIMARY KEY, email VARCHAR(191), status VARCHAR(32), "
            "status_since VARCHAR(64), roles VARCHAR(191)) DEFAULT CHARSET utf8mb4",
            rows=users,
        ))

    async def _run(self, *statements: str, rows: list[tuple[Any, ...]] | None = None,
                   args: tuple[Any, ...] = ()) -> None:
        import asyncmy

        conn = await asyncmy.connect(**MYSQL)
        try:
            async with conn.cursor() as cursor:
                for sql in statements:
                    await cursor.execute(sql, args or None)
                if rows:
                    await cursor.executemany(f"INSERT INTO {self.table} VALUES (%s, %s, %s, %s, %s)", rows)
        finally:
            conn.close()

    def teardown(self) -> None:
        asyncio.run(self._run(f"DROP TABLE IF EXISTS {self.table}"))

    def store(self, **overrides: Any) -> dict[str, Any]:
        return {**STORE_FIELDS, "url": "mysql://root@127.0.0.1:3306/test", "table": self.table, **overrides}

    async def add(self, user_id: str, email: str, status: str = "active") -> None:
        await self._run(f"INSERT INTO {self.table} VALUES (%s, %s, %s, NULL, 'user')", args=(user_id, email, status))

    async def remove(self, user_id: str) -> None:
        await self._run(f"DELETE FROM {self.table} WHERE user_id = %s", args=(user_id,))


SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
database mdb
suffix "{suffix}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {dir}/data
maxsize 16777216
"""


class LdapBackend(Backend):
    """A private slapd on a free loopback port; users are inetOrgPerson entries keyed by cn."""

    name = "ldap"

    def __init__(self, workdir: Path, users: list[tuple[str, str, str, str | None, str]] = USERS) -> None:
        import subprocess

        self.dir = workdir
        self.suffix = f"dc=diag{secrets.token_hex(3)},dc=test"
        self.rootdn = f"cn=admin,{self.suffix}"
        self.rootpw = secrets.token_urlsafe(12)
        self.people = f"ou=people,{self.suffix}"
        self.port = _free_port()
        (workdir / "data").mkdir(parents=True)
        (workdir / "slapd.conf").write_text(SLAPD_CONF.format(dir=workdir, suffix=self.suffix, rootdn=self.rootdn,
                                                              rootpw=self.rootpw))
        self.process = subprocess.Popen(
            ["/usr/sbin/slapd", "-h", f"{self.url}/", "-f", str(workdir / "slapd.conf"), "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        _wait_listening(self.process, self.port)
        self._modify(lambda c: self._seed(c, users))

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _modify(self, action: Any) -> None:
        import ldap3

        conn = ldap3.Connection(ldap3.Server(self.url), self.rootdn, self.rootpw, auto_bind=True)
        try:
            action(conn)
        finally:
            conn.unbind()

    def _seed(self, conn: Any, users: list[tuple[str, str, str, str | None, str]]) -> None:
        dc = self.suffix.split(",")[0].split("=")[1]
        _add(conn, self.suffix, {"objectClass": ["top", "dcObject", "organization"], "dc": dc, "o": dc})
        _add(conn, self.people, {"objectClass": ["top", "organizationalUnit"], "ou": "people"})
        for user in users:
            self._add_user(conn, *user)

    def _add_user(self, conn: Any, user_id: str, email: str, status: str, since: str | None, roles: str) -> None:
        attrs: dict[str, Any] = {"objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
                                 "uid": _rdn(user_id), "cn": user_id, "sn": "x", "mail": email,
                                 "employeeType": status, "departmentNumber": roles.split(",")}
        if since:
            attrs["description"] = since
        _add(conn, f"uid={_rdn(user_id)},{self.people}", attrs)

    def teardown(self) -> None:
        import shutil

        self.process.terminate()
        self.process.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def store(self, **overrides: Any) -> dict[str, Any]:
        base = {**STORE_FIELDS, "url": self.url, "id_field": "cn", "status_field": "employeeType",
                "status_since_field": "description", "roles_field": "departmentNumber",
                "lookup": {"user_id": "cn", "email": "mail"},
                "ldap": {"bind_dn": self.rootdn, "bind_password": self.rootpw, "base_dns": [self.people],
                         "object_filter": "(objectClass=inetOrgPerson)"}}
        return {**base, **overrides}

    async def add(self, user_id: str, email: str, status: str = "active") -> None:
        self._modify(lambda c: self._add_user(c, user_id, email, status, None, "user"))

    async def remove(self, user_id: str) -> None:
        self._modify(lambda c: c.delete(f"uid={_rdn(user_id)},{self.people}"))


def _rdn(user_id: str) -> str:
    """An ASCII-safe RDN value for any user id (the id itself lives in cn)."""
    return "u" + user_id.encode("utf-8").hex()


def _add(conn: Any, dn: str, attrs: dict[str, Any]) -> None:
    if not conn.add(dn, attributes=attrs):
        raise RuntimeError(f"ldap add {dn!r} failed: {conn.result}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(process: Any, port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"slapd did not listen on port {port} within 10 s")
