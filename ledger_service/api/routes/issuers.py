"""What any verifier of a certificate fetches, anonymously (docs/formats.md section 9.1): the issuer's did:web
DID document (`/members/<member>/did.json`, the path did:web resolves `did:web:<host>:members:<member>` to) and
its Bitstring Status List credentials, built from the chain when asked. The base URL is the profile's
verification URL: the one the certificates were issued under."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from esg_reports import certificate_status
from ledger_service.api.deps import ServiceDep
from ledger_service.api.problems import Problem

router = APIRouter(tags=["certificates"])
Member = Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9._-]+$")]


def _base(request: Request) -> str:
    profile = request.app.state.profile
    if profile is None or request.app.state.keys is None:
        raise Problem(503, "ISSUER_UNAVAILABLE", "This service issues no certificates (no profile or key directory)")
    return str(profile.verification_url)


@router.get("/members/{member}/did.json")
async def did_document(member: Member, request: Request, service: ServiceDep) -> JSONResponse:
    """The did:web DID document of an issuing member: its Ed25519 and SM2 keys and their binding to the member's
    account in the consortium registry."""
    base = _base(request)
    doc: dict[str, Any] = await run_in_threadpool(
        certificate_status.did_document, service, request.app.state.keys, member, base
    )
    return JSONResponse(doc, media_type="application/did+json")


@router.get("/v1/status-lists/{member}/{purpose}")
async def status_list(
    member: Member, purpose: Literal["revocation", "suspension"], request: Request, service: ServiceDep
) -> JSONResponse:
    """The member's BitstringStatusListCredential: bit i set when the certificate at index i is revoked
    (revocation) or its record is under a recall in force (suspension)."""
    base = _base(request)
    doc: dict[str, Any] = await run_in_threadpool(
        certificate_status.status_list, service, request.app.state.keys, member, purpose, base
    )
    return JSONResponse(doc, media_type="application/vc+ld+json")
