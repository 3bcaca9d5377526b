"""The API as the tests drive it: a member's API keys and the app over a demo consortium's runtime, without
the anchoring worker (tests anchor when they mean to)."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI

from ledger_service.api.main import create_app
from ledger_service.demo import Demo
from ledger_service.index import crud
from ledger_service.runtime import Runtime


def api_keys(runtime: Runtime, members: Iterable[str]) -> dict[str, str]:
    """A fresh API key of each member, issued as an administrator would."""
    with runtime.service.sessions.begin() as session:
        return {
            m: crud.issue_api_key(session=session, member=m, account=runtime.service.accounts[m], actor="admin")
            for m in members
        }


def demo_app(runtime: Runtime, demo: Demo, max_upload_bytes: int = 1 << 20) -> FastAPI:
    """The API over the demo's runtime, with its keys, calibrations and profile; no anchoring worker."""
    return create_app(
        runtime.service,
        max_upload_bytes=max_upload_bytes,
        worker=False,
        keys=runtime.keys,
        certificates=demo.certificates,
        profile=demo.profile,
    )
