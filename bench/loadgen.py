"""A lean HTTP/1.1 load generator for the API benches: N keep-alive connections on one asyncio loop, each sending
its share of pre-encoded requests one after the other and timing each to the end of its answer. The clients
share the 2 cores with the server, so they must cost far less than the work they measure (httpx threads cost
about as much as the service's own request handling)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field


def json_post(path: str, host: str, key: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def multipart_post(path: str, host: str, key: str, record: bytes, name: str, data: bytes, media: str) -> bytes:
    boundary = uuid.uuid4().hex
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="record"\r\n'.encode(),
            b"Content-Type: application/json\r\n\r\n",
            record,
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename="{name}"\r\n'.encode(),
            f"Content-Type: {media}\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Run:
    elapsed_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[dict[str, object]] = field(default_factory=list)


def get(path: str, host: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


async def _client(host: str, port: int, requests: list[bytes], run: Run, expect: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in requests:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next(int(v) for k, _, v in (h.partition(":") for h in lines[1:]) if k.lower() == "content-length")
            body = await reader.readexactly(length)
            run.latencies_s.append(time.perf_counter() - start)
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if status != expect:
                run.bodies.append({"status": status, "body": json.loads(body or b"null")})
    finally:
        writer.close()


def post_all(host: str, port: int, requests: list[bytes], clients: int = 8, expect: int = 202) -> Run:
    """Send `requests` over `clients` connections; every client gets an equal share. Answers other than
    `expect` are kept in `Run.bodies`."""
    run = Run()

    async def main() -> None:
        start = time.perf_counter()
        await asyncio.gather(*(_client(host, port, requests[i::clients], run, expect) for i in range(clients)))
        run.elapsed_s = time.perf_counter() - start

    asyncio.run(main())
    return run
