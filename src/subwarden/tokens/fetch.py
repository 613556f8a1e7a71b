"""Fetching JSON documents (JWKS, OIDC discovery): a one-method interface and its httpx implementation."""

from __future__ import annotations

import json
from typing import Any, Protocol

import httpx

MAX_DOCUMENT_BYTES = 1024 * 1024


class KeyFetchError(Exception):
    """A JWKS or discovery document could not be fetched or parsed; ``str()`` names the cause."""


class KeyFetcher(Protocol):
    async def get_json(self, url: str, timeout: float) -> Any:
        """GET ``url`` and return its parsed JSON body; raise ``KeyFetchError`` on any failure."""


class HttpxKeyFetcher:
    """The default fetcher: one pooled ``httpx.AsyncClient``, no redirects, bounded body size."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._owns_client = client is None

    async def get_json(self, url: str, timeout: float) -> Any:
        try:
            body = await self._get(url, timeout)
        except httpx.TimeoutException:
            raise KeyFetchError(f"timeout after {timeout}s") from None
        except httpx.HTTPError as exc:
            raise KeyFetchError(f"request failed ({type(exc).__name__})") from None
        try:
            return json.loads(body)
        except ValueError:
            raise KeyFetchError("body is not JSON") from None

    async def _get(self, url: str, timeout: float) -> bytes:
        headers = {"accept": "application/json"}
        async with self._client.stream("GET", url, timeout=timeout, headers=headers) as response:
            if response.status_code != 200:
                raise KeyFetchError(f"HTTP status {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise KeyFetchError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
            return bytes(body)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
