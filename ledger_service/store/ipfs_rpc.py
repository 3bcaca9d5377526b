"""A Kubo RPC endpoint (`/api/v0/...`) as the content store: Kubo, in production and in the tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, BinaryIO

from ledger_service.errors import ContentNotFound, StoreError, StoreUnavailable
from ledger_service.store.base import ContentStore

# The parameters that make the node's CIDs equal the embedded store's.
ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": "size-262144",
    "pin": "true",
    "hash": "sha2-256",
    "cid-base": "base32",
}


class IpfsRpcStore(ContentStore):
    """ContentStore over the Kubo RPC API; `url` is the API base, e.g. http://127.0.0.1:5001."""

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        import httpx  # imported where used, as the other adapters' clients

        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._transport_errors: tuple[type[Exception], ...] = (httpx.TransportError,)

    def put(self, data: bytes) -> str:
        return self.put_many([data])[0]

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        files = [("file", (f"f{i}", item, "application/octet-stream")) for i, item in enumerate(items)]
        return self._add(files, expected=len(items))

    def put_stream(self, stream: BinaryIO) -> str:
        return self._add([("file", ("f0", stream, "application/octet-stream"))], expected=1)[0]

    def get(self, cid: str) -> bytes:
        if not self.has(cid):
            raise ContentNotFound(cid)
        response = self._post("/api/v0/cat", params={"arg": cid})
        if response.status_code != 200:
            raise StoreError(f"cat {cid}: HTTP {response.status_code} {response.text[:200]}")
        return bytes(response.content)

    def has(self, cid: str) -> bool:
        # A pin lookup never goes to the network, unlike cat of an unknown CID.
        response = self._post("/api/v0/pin/ls", params={"arg": cid, "type": "recursive", "cid-base": "base32"})
        return response.status_code == 200 and cid in response.text

    def pin(self, cid: str) -> None:
        response = self._post("/api/v0/pin/add", params={"arg": cid})
        if response.status_code != 200:
            raise StoreError(f"pin {cid}: HTTP {response.status_code} {response.text[:200]}")

    def is_available(self) -> bool:
        try:
            return bool(self._post("/api/v0/id").status_code == 200)
        except StoreUnavailable:
            return False

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, **kwargs: Any) -> Any:
        try:
            return self._http.post(path, **kwargs)
        except self._transport_errors as error:
            raise StoreUnavailable(f"IPFS node at {self.url} unreachable: {error}") from error

    def _add(self, files: list[Any], expected: int) -> list[str]:
        response = self._post("/api/v0/add", params=ADD_PARAMS, files=files)
        if response.status_code >= 500:
            raise StoreUnavailable(f"add: the node failed (HTTP {response.status_code}): {response.text[:200]}")
        if response.status_code != 200:
            raise StoreError(f"add: HTTP {response.status_code} {response.text[:200]}")
        entries = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        by_name = {e["Name"]: e["Hash"] for e in entries if "Hash" in e}
        try:
            return [by_name[f"f{i}"] for i in range(expected)]
        except KeyError as missing:
            # A node going down mid-answer reports only part of the batch: retry later, as for a dead node.
            raise StoreUnavailable(f"add: the node did not report {missing}: {response.text[:200]}") from None
