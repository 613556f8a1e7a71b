"""Every YAML config example in docs/stores/ is a valid store config that builds its backend."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from subwarden.config.models import StoreConfig
from subwarden.identity.stores.base import create_store

DOCS = Path(__file__).resolve().parents[2] / "docs" / "stores"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for block in BLOCK.findall(page.read_text()):
            if block.startswith("identity:"):
                found.append((page.name, block))
    return found


def test_every_backend_page_has_a_complete_example() -> None:
    assert {name for name, _ in examples()} >= {"sqlite.md", "postgresql.md", "mysql.md", "ldap.md", "http.md"}


@pytest.mark.parametrize(("page", "block"), examples(), ids=[name for name, _ in examples()])
async def test_the_example_builds_its_store(page: str, block: str) -> None:
    config = StoreConfig(**yaml.safe_load(block)["identity"]["store"])
    store = create_store(config)
    assert config.url.split(":", 1)[0] in store.schemes
    query = store.build_query(next(iter(config.lookup)), "alice")
    assert query.params[0] == "alice"
    await store.close()
