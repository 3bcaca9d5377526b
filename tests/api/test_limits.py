"""Requests that once crashed or swelled the service: refused with a problem document before any work, the
server alive and its memory bounded. The server runs in its own process (a crash there fails the test, not the
test run), with the in-process chain and a founded consortium."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger_service.localnode import free_port

SERVER = """
import sys, uvicorn
from ledger_service.api.main import create_app
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.runtime import open_runtime
runtime = open_runtime(Settings(data_dir=sys.argv[1]))
demo = Demo(runtime.service, runtime.keys)
demo.found_consortium()
demo.calibrate_instruments()
open(sys.argv[3], "w").write(runtime.service.issue_api_key(LAB, actor="test"))
raw, _ = demo.record("xrf_analysis", 1)
open(sys.argv[4], "w").write(__import__("json").dumps(raw))
uvicorn.run(create_app(runtime.service, worker=False), host="127.0.0.1", port=int(sys.argv[2]), log_config=None)
"""
MB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, str, dict[str, object]]]:
    home = tmp_path_factory.mktemp("limits")
    port = free_port()
    key_file, record_file = home / "key", home / "record.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(home / "data"), str(port), str(key_file), str(record_file)]
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    yield base, proc.pid, key_file.read_text(), json.loads(record_file.read_text())
    proc.terminate()
    proc.wait(timeout=30)


def alive(base: str) -> bool:
    return httpx.get(f"{base}/healthz", timeout=5).status_code == 200


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def stream(port: int, head: str, chunks: Iterator[bytes], chunked: bool) -> tuple[int, dict[str, object], int]:
    """Send a request whose body comes in `chunks` over a raw socket, watching for the answer after each
    chunk; returns (status, problem document, bytes sent before the answer came)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode() + b"\r\n")
    sent, answer = 0, b""
    try:
        for chunk in chunks:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            sent += len(chunk)
            if select.select([sock], [], [], 0)[0]:
                break
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(30)
    try:
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_bytes.split()[1])
    text = body.decode(errors="replace")
    start, end = text.find("{"), text.rfind("}")
    return status, json.loads(text[start : end + 1]) if start >= 0 else {}, sent


def chunks(total: int, piece: bytes = b"0" * MB) -> Iterator[bytes]:
    for _ in range(total // len(piece)):
        yield piece


def test_a_body_nested_100000_deep_is_refused_not_a_crash(server: tuple[str, int, str, dict[str, object]]) -> None:
    base, _, key, record = server
    body = b"[" * 100_000
    for path, headers in (("/v1/recalls", {}), ("/v1/records", {"Authorization": f"Bearer {key}"})):
        response = httpx.post(base + path, content=body, headers={"content-type": "application/json", **headers})
        assert response.status_code == 400 and response.json()["code"] == "JSON_TOO_DEEP"
        assert response.headers["content-type"] == "application/problem+json"
    assert alive(base)
    huge = json.dumps(record).replace('"replicates": 3', '"replicates": ' + "9" * 5000)
    assert huge != json.dumps(record)
    response = httpx.post(
        f"{base}/v1/records",
        content=huge,
        headers={"content-type": "application/json", "Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 400 and response.json()["code"] == "JSON_NUMBER_TOO_LONG"  # was a 500
    nested_part = {"record": (None, b"[" * 100_000, "application/json")}
    response = httpx.post(f"{base}/v1/records", files=nested_part, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400 and response.json()["code"] == "JSON_TOO_DEEP"  # the multipart record part
    assert alive(base)


def test_200_mb_bodies_are_refused_while_they_stream(server: tuple[str, int, str, dict[str, object]]) -> None:
    base, pid, key, _ = server
    port = int(base.rsplit(":", 1)[1])
    before = rss(pid)
    boundary = "qledgerlimit"
    cases = [
        ("POST /v1/recalls", "application/json", True, {}),  # anonymous, chunked JSON
        ("POST /v1/records", "application/json", True, {"Authorization": f"Bearer {key}"}),
        ("POST /v1/certificates/verify", "application/pdf", True, {}),  # anonymous PDF
        ("POST /v1/certificates/verify", "application/pdf", False, {"Content-Length": str(200 * MB)}),
    ]
    for request_line, media, chunked, extra in cases:
        headers = {"Host": "127.0.0.1", "Content-Type": media, **extra}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        head = f"{request_line} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        status, problem, sent = stream(port, head, chunks(200 * MB), chunked)
        assert status == 413 and problem["code"] == "TOO_LARGE", (request_line, status, problem)
        assert sent < 100 * MB, (request_line, sent)  # refused as the limit passed, not after the whole body
    # A 200 MB file part in a multipart submission by a member.
    head = (
        "POST /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nAuthorization: Bearer {key}\r\n"
    )
    opening = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    def multipart() -> Iterator[bytes]:
        yield opening
        yield from chunks(200 * MB)

    status, problem, sent = stream(port, head, multipart(), True)
    assert status == 413 and problem["code"] == "TOO_LARGE" and sent < 100 * MB
    assert alive(base)
    assert rss(pid) - before < 64 * MB, (before, rss(pid))
    assert os.path.exists(f"/proc/{pid}")


def test_a_batch_of_certificates_has_its_own_body_limit_and_one_certificate_keeps_its_own() -> None:
    from ledger_service.api.limits import MAX_BATCH_BYTES, MAX_PDF_BYTES, BodyLimits

    limits = BodyLimits()
    assert limits.for_request("POST", "/v1/certificates/verify", "multipart/form-data") == MAX_BATCH_BYTES
    assert limits.for_request("POST", "/v1/certificates/verify", "application/pdf") == MAX_PDF_BYTES
    assert limits.for_request("POST", "/v1/certificates/verify", "application/json") == MAX_PDF_BYTES
