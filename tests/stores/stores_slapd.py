"""A private OpenLDAP slapd for the tests: config and data in a temp dir, a free loopback port,
schema from Debian's slapd package plus ``ldap/adtest.schema``; stoppable and restartable."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import ldap3
from stores_tls import TlsFiles

SCHEMA_DIR = Path("/etc/ldap/schema")
AD_SCHEMA = Path(__file__).parent / "ldap" / "adtest.schema"
SLAPD = "/usr/sbin/slapd"

CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {ad_schema}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {dir}/slapd.pid
{tls}sizelimit 500
database mdb
suffix "{suffix}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {dir}/data
maxsize 16777216
overlay ppolicy
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TLS_CONF = """\
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
"""


class Slapd:
    def __init__(self, workdir: Path, tls: TlsFiles | None = None) -> None:
        if not Path(SLAPD).exists():
            raise RuntimeError("slapd is not installed: run scripts/ensure-services.sh")
        self.dir = workdir
        self.suffix = f"dc=sw{secrets.token_hex(3)},dc=test"
        self.rootdn = f"cn=admin,{self.suffix}"
        self.rootpw = secrets.token_urlsafe(12)
        self.port = _free_port()
        self.tls_port = _free_port() if tls else None
        self.process: subprocess.Popen[bytes] | None = None
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        (workdir / "slapd.conf").write_text(
            CONF.format(schema=SCHEMA_DIR, ad_schema=AD_SCHEMA, dir=workdir, suffix=self.suffix,
                        rootdn=self.rootdn, rootpw=self.rootpw,
                        tls=TLS_CONF.format(ca=tls.ca, cert=tls.cert, key=tls.key) if tls else "")
        )

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        listen = f"{self.url}/" + (f" ldaps://127.0.0.1:{self.tls_port}/" if self.tls_port else "")
        self.process = subprocess.Popen(
            [SLAPD, "-h", listen, "-f", str(self.dir / "slapd.conf"), "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"slapd exited with {self.process.returncode}: {err[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"slapd did not listen on {self.url} within 10s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def add(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Add ``(dn, attributes)`` entries as the root DN."""
        conn = ldap3.Connection(ldap3.Server(self.url), self.rootdn, self.rootpw, auto_bind=True)
        try:
            for dn, attrs in entries:
                if not conn.add(dn, attributes=attrs):
                    raise RuntimeError(f"ldap add {dn!r} failed: {conn.result}")
        finally:
            conn.unbind()
