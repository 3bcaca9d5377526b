"""Property-based: thousands of generated requests from our own OpenAPI schema (schemathesis), JSON and
multipart bodies alike, sent in turn by a lab, a manufacturer, a regulator and auditor, and an anonymous
client. No answer is a 5xx, every error is a problem document, and no invalid record is ever accepted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from ledger_service.api.main import create_app
from ledger_service.config import Settings
from ledger_service.demo import LAB, MFR, REG, Demo
from ledger_service.index import crud
from ledger_service.runtime import open_runtime

_state: dict[str, object] = {}


def _app():  # type: ignore[no-untyped-def]
    if "app" not in _state:
        import tempfile

        runtime = open_runtime(Settings(data_dir=Path(tempfile.mkdtemp(prefix="qledger-prop-"))))
        demo = Demo(runtime.service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        with runtime.service.sessions.begin() as session:
            _state["keys"] = [
                crud.issue_api_key(session=session, member=m, account=runtime.service.accounts[m], actor="t")
                for m in (LAB, MFR, REG)
            ] + [None]  # None: an anonymous client
        _state["runtime"] = runtime
        _state["app"] = create_app(
            runtime.service, max_upload_bytes=1 << 20, worker=False, keys=runtime.keys, profile=demo.profile
        )
    return _state["app"]


schemathesis.serializer.alias("application/pdf", "application/octet-stream")  # certificate uploads
schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.fixture(scope="module", autouse=True)
def count() -> Iterator[None]:
    _state["requests"] = 0
    yield
    assert int(_state["requests"]) >= 2000, _state["requests"]  # type: ignore[call-overload]
    assert int(_state.get("multipart", 0)) >= 50, _state.get("multipart")  # type: ignore[call-overload]
    print(f"\nschemathesis: {_state['requests']} requests, {_state.get('multipart')} multipart, 0 crashes")


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_5xx_and_every_error_is_a_problem_document(case: Case) -> None:
    keys: list[str | None] = _state["keys"]  # type: ignore[assignment]
    key = keys[int(_state["requests"]) % len(keys)]  # type: ignore[call-overload]
    if key is not None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    response = case.call()
    _state["requests"] = int(_state["requests"]) + 1  # type: ignore[call-overload]
    if case.media_type == "multipart/form-data":
        _state["multipart"] = int(_state.get("multipart", 0)) + 1  # type: ignore[call-overload]
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        ctype = response.headers.get("content-type") or [""]
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert ctype.startswith("application/problem+json"), response.text[:200]
        body = response.json()
        assert {"type", "title", "status", "code", "errors"} <= body.keys()
    if case.method == "POST" and case.path == "/v1/records":
        # Generated bodies are never valid records: nothing may be accepted.
        assert response.status_code != 202, response.text[:300]
