"""Demo fixtures: a signing key (made once), a SQLite user store and a gateway config."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import yaml

DEMO_ISSUER = "https://demo.subwarden.local"
DEMO_AUDIENCE = "demo-api"

#: (user_id, email, status, roles): active, disabled, locked, deleted, and two ids differing only in case.
DEMO_USERS = [
    ("alice", "alice@example.com", "active", "user,admin"),
    ("bob", "bob@example.com", "disabled", "user"),
    ("carol", "carol@example.com", "locked", "user"),
    ("dave", "dave@example.com", "deleted", "user"),
    ("Frank", "frank.upper@example.com", "active", "user"),
    ("frank", "frank@example.com", "active", "auditor"),
]


@dataclass(frozen=True)
class DemoFiles:
    root: Path
    private_key: Path
    public_key: Path
    users_db: Path
    records_db: Path
    config: Path


def ensure_keys(root: Path) -> tuple[Path, Path]:
    """Generate the demo RSA key pair once; later runs reuse it."""
    from subwarden.tokens.mint import generate_demo_keys

    private = root / "demo-private.pem"
    if private.exists():
        public = next(p for p in root.glob("demo-public*") if p.is_file())
        return private, public
    generated_private, generated_public = generate_demo_keys(root)
    return Path(generated_private), Path(generated_public)


def seed_users(path: Path) -> None:
    """(Re)create the demo user table."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, status TEXT NOT NULL, roles TEXT)"
        )
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", DEMO_USERS)


def write_config(files: DemoFiles, port: int, upstream_port: int, admin_port: int) -> None:
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "issuers": [
            {
                "name": "demo",
                "issuer": DEMO_ISSUER,
                "audiences": [DEMO_AUDIENCE],
                "algorithms": ["RS256"],
                "keys": {"files": [str(files.public_key)]},
                "mapping": [{"claim": "sub", "attribute": "user_id"}],
            }
        ],
        "identity": {
            "store": {
                "url": f"sqlite:///{files.users_db}",
                "lookup": {"user_id": "user_id", "email": "email"},
                "attributes": {"email": "email"},
            },
        },
        "routes": [
            {
                "name": "demo",
                "match": {"path_prefix": "/"},
                "upstream": {"targets": [f"http://127.0.0.1:{upstream_port}"]},
                "headers": {"set_from_attributes": {"X-User-Email": "email"}},
            }
        ],
        "records": {"sqlite": str(files.records_db)},
        "admin": {"port": admin_port},
    }
    files.config.write_text(yaml.safe_dump(config, sort_keys=False))


def prepare(root: Path, port: int, upstream_port: int, admin_port: int) -> DemoFiles:
    root.mkdir(parents=True, exist_ok=True)
    private, public = ensure_keys(root)
    files = DemoFiles(root, private, public, root / "users.db", root / "records.db", root / "gateway.yaml")
    seed_users(files.users_db)
    write_config(files, port, upstream_port, admin_port)
    return files
