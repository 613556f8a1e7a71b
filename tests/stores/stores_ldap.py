"""The LDAP backend fixture: a private slapd seeded with ``USERS`` under ou=people (user id in
``cn``, which unlike ``uid`` may hold any Unicode), plus the trees the LDAP-only tests use."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from stores_harness import Harness
from stores_proxy import free_port
from stores_slapd import Slapd
from stores_tls import TlsFiles
from stores_users import USERS

PERSON = ["top", "person", "organizationalPerson", "inetOrgPerson", "subwardenTestAccount"]


class LdapHarness(Harness):
    name = "ldap"

    def __init__(self, workdir: Path, tls: TlsFiles | None = None) -> None:
        self.slapd = Slapd(workdir, tls)
        self.ca = str(tls.ca) if tls else ""
        s = self.slapd.suffix
        self.suffix = s
        self.people = f"ou=people,{s}"
        self.groups = f"ou=groups,{s}"
        self.service_dn = f"cn=gateway,ou=services,{s}"
        self.password = secrets.token_urlsafe(12)
        self.env = {"SW_TEST_LDAP_PASSWORD": self.password}
        self.renamed_lookup = {"lookup": {"user_id": "commonNameX", "email": "mail"}}
        self.renamed_attribute = {"attributes": {"email": "mail", "name": "fullName"}}
        self.wrong_credentials = {"ldap": {"bind_password_env": "SW_TEST_LDAP_WRONG"}}
        self.env["SW_TEST_LDAP_WRONG"] = "not-" + self.password

    def base(self) -> dict[str, Any]:
        return {
            "url": self.slapd.url,
            "id_field": "cn",
            "status_field": "employeeType",
            "status_since_field": None,
            "roles_field": "memberOf",
            "lookup": {"user_id": "cn", "email": "mail"},
            "attributes": {"email": "mail", "name": "displayName"},
            "timeout": 2.0,
            "pool_size": 4,
            "ldap": {
                "bind_dn": self.service_dn,
                "bind_password_env": "SW_TEST_LDAP_PASSWORD",
                "base_dns": [self.people],
                "object_filter": "(objectClass=inetOrgPerson)",
            },
        }

    def url_at(self, port: int) -> str:
        return f"ldap://127.0.0.1:{port}"

    @property
    def port(self) -> int:
        return self.slapd.port

    async def stop(self) -> dict[str, Any]:
        self.slapd.stop()
        return {}

    async def resume(self) -> None:
        self.slapd.start()

    def setup(self) -> None:
        self.slapd.start()
        self.slapd.add(self._tree())

    def teardown(self) -> None:
        self.slapd.remove()

    def person(self, rdn: str, parent: str, cn: str, **attrs: Any) -> tuple[str, dict[str, Any]]:
        return f"uid={rdn},{parent}", {"objectClass": PERSON, "uid": rdn, "cn": cn, "sn": "x", **attrs}

    def _tree(self) -> list[tuple[str, dict[str, Any]]]:
        s = self.suffix
        dc = s.split(",")[0].split("=")[1]
        tree: list[tuple[str, dict[str, Any]]] = [
            (s, {"objectClass": ["dcObject", "organization"], "o": "subwarden tests", "dc": dc}),
            *[(f"ou={ou},{s}", {"objectClass": ["organizationalUnit"], "ou": ou})
              for ou in ("people", "groups", "services", "partners", "ad", "ppolicy", "dups", "federated")],
            (self.service_dn, {"objectClass": ["person"], "cn": "gateway", "sn": "x", "userPassword": self.password}),
        ]
        for i, user in enumerate(USERS):
            attrs: dict[str, Any] = {"employeeType": user.status, "mail": user.email, "displayName": user.name}
            if user.roles:
                attrs["memberOf"] = [f"cn={r},{self.groups}" for r in user.roles]
            tree.append(self.person(f"u{i}", self.people, user.user_id, **attrs))
        return tree + self._extra_tree()

    def _extra_tree(self) -> list[tuple[str, dict[str, Any]]]:
        s, people = self.suffix, self.people
        alice_dn, bob_dn = f"uid=u0,{people}", f"uid=u1,{people}"
        ad = f"ou=ad,{s}"
        return [
            (f"cn=admins,{self.groups}", {"objectClass": ["groupOfNames"], "cn": "admins", "member": [alice_dn]}),
            (f"cn=devs,{self.groups}", {"objectClass": ["groupOfNames"], "cn": "devs", "member": [alice_dn, bob_dn]}),
            (f"cn=auditors,{self.groups}", {"objectClass": ["groupOfNames"], "cn": "auditors", "member": [alice_dn]}),
            self.person("p1", f"ou=partners,{s}", "pat", employeeType="active", mail="pat@partner.example"),
            self.person("ad1", ad, "AD Active", sAMAccountName="ad-active", userAccountControl="512"),
            self.person("ad2", ad, "AD Disabled", sAMAccountName="ad-disabled", userAccountControl="514"),
            self.person("ad3", ad, "AD Locked", sAMAccountName="ad-locked", userAccountControl="512",
                        lockoutTime="133515072000000000"),
            self.person("ad4", ad, "AD Lock Bit", sAMAccountName="ad-lockbit", userAccountControl="528"),
            self.person("ad5", ad, "AD Unlocked", sAMAccountName="ad-unlocked", userAccountControl="512",
                        lockoutTime="0", memberOf=[f"cn=Domain Admins\\, EU,{self.groups}"]),
            self.person("pp1", f"ou=ppolicy,{s}", "pp-locked", pwdAccountLockedTime="000001010000Z"),
            self.person("pp2", f"ou=ppolicy,{s}", "pp-open"),
            self.person("d1", f"ou=dups,{s}", "twin", mail="twin1@example.com"),
            self.person("d2", f"ou=dups,{s}", "twin", mail="twin2@example.com"),
            self.person("d3", f"ou=dups,{s}", "carol"),
            self.person("d4", f"ou=dups,{s}", "Carol"),
            self.person("d5", f"ou=dups,{s}", "CAROL"),
            (f"ou=partners-ref,ou=federated,{s}", {
                "objectClass": ["referral", "extensibleObject"], "ou": "partners-ref",
                "ref": f"{self.slapd.url}/ou=partners,{s}",
            }),
        ]


def closed_port_url() -> str:
    return f"ldap://127.0.0.1:{free_port()}"
