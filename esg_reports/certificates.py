"""Conformity certificates a foreign importer can verify (docs/domain.md section 6): a W3C VC 2.0 credential
built from an anchored record, rendered as PDF/A-3b in several languages with a QR code to the verification URL,
then anchored (one tier C root over a leaf per certificate binding its credential to the digest of its page, and
the digest of the template), and the credential, its record and the proof embedded as an attachment.
`verify_pdf` checks a certificate PDF against the chain (docs/formats.md section 9)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeVar

from jinja2 import Environment, PackageLoader, select_autoescape

from esg_reports import certificate_pdf, i18n, vc
from ledger_service import directory, merkle, safejson
from ledger_service.canonical import canonical_json
from ledger_service.chain import Web3ChainClient
from ledger_service.chain.web3_client import ChainReader
from ledger_service.digests import sm3
from ledger_service.errors import LedgerError, UnknownEntry
from ledger_service.ids import schema_key
from ledger_service.index import crud
from ledger_service.keys import KeyStore
from ledger_service.service import LedgerService
from ledger_service.verification import Fragment, Reason, Status
from ledger_service.verification import is_valid as verification_is_valid
from ledger_service.verification.fragment import not_valid

INVALID = Status.INVALID

HERE = Path(__file__).resolve().parent
FORMAT = "qledger-certificate/2"  # /1 carried no page digest and no record: refused (docs/formats.md section 9)
ATTACHMENT = "credential.json"
CERTIFICATE_KIND = "certificate"  # the tier C schema of certificate roots: SM3("schema:certificate/1")
CERTIFICATE_SCHEMA: Final = schema_key(CERTIFICATE_KIND, "1")
LEAF_TAG: Final = b"qledger-certificate-leaf/1\x00"
_env = Environment(loader=PackageLoader("esg_reports"), autoescape=select_autoescape(["html", "j2"]))


@cache
def template_digest() -> bytes:
    """SM3 over the certificate template, every catalog and every font file: what renders the visible text (a
    changed font is a changed template)."""
    parts = [(HERE / "templates" / name).read_bytes() for name in ("certificate.html.j2", "certificate.css.j2")]
    parts += [p.read_bytes() for p in sorted((HERE / "locale").glob("*/LC_MESSAGES/certificate.po"))]
    parts += [p.read_bytes() for p in i18n.font_paths()]
    return sm3(b"".join(sm3(p) for p in parts))


CONTEXT = [vc.VC_CONTEXT]  # terms of our own fall under VC 2.0's issuer-dependent @vocab
TYPES = ["VerifiableCredential", "RQDMAConformityCredential"]
STATEMENT = "The results relate only to the items tested."


def record_claims(record: Mapping[str, Any], issuer_did: str) -> dict[str, Any]:
    """What a certificate says about its record: a pure function of the record and the issuer's DID (a
    did:web naming the record's lab: `vc.did_web`), used by issuing and by verifying (`CertificateRecord`).
    Every member of the credential but those of the issuing (languages, the record's anchor, the verification
    URL, the status entries, the issuer's accreditation, the template, the proofs). Raises KeyError or
    TypeError for a record without the fields a certificate shows."""
    canonical = canonical_json(record)
    record_id = sm3(canonical).hex()
    lab, instrument = record["lab"], record["instrument"]
    return {
        "@context": CONTEXT,
        "id": f"urn:qledger:certificate:{record_id}",
        "type": TYPES,
        "issuer": {"id": issuer_did, "name": lab["name"], "address": lab["address"]},
        "validFrom": f"{record['date_issued']}T00:00:00Z",
        "authoritativeLanguage": i18n.AUTHORITATIVE,
        "credentialSubject": {
            "id": f"urn:qledger:record:{record_id}",
            "item": record["subject"],
            "assessment": {
                "title": record["title"],
                "report_id": record["report_id"],
                "record_type": record["record_type"],
                "method": record["method"],
                "measured_at": record["measured_at"],
                "date_issued": record["date_issued"],
                "results": record["results"],
                "statement": STATEMENT,
            },
        },
        "evidence": [
            {
                "type": ["QualityEvidence"],
                "instrument": {k: v for k, v in instrument.items() if k != "calibration"},
                "calibration": instrument["calibration"],  # the window as the record states it
                "operator": record["operator"]["id"],
                "checker": record["checker_id"],
                "authorizer": record["authorized_by"],
            }
        ],
        "relatedResource": [
            {
                "id": f"urn:qledger:record:{record_id}",
                "digestSRI": "sha256-" + base64.b64encode(hashlib.sha256(canonical).digest()).decode(),
                "digestSM3": record_id,
            }
        ],  # fmt: skip
    }


@dataclass(frozen=True)
class _Source:
    record: dict[str, Any]
    lab_member: str
    anchor: dict[str, Any]  # the record's anchor, as the credential's chainAnchor states it


def _source(service: LedgerService, record_id: str) -> _Source:
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=record_id)
        if row is None:
            raise UnknownEntry(f"no record {record_id}")
        if row.anchor is None:
            raise LedgerError(f"record {record_id} is not anchored yet: certify it once it is")
        if row.confidentiality == "confidential":
            raise LedgerError(f"record {record_id} is confidential: it gets no public certificate")
        a = row.anchor
        return _Source(
            json.loads(crud.canonical(session=session, row=row)),
            row.lab_member,
            {
                "chainId": a.chain_id,
                "contract": a.contract,
                "txHash": a.tx_hash,
                "blockNumber": a.block_number,
                "blockTime": a.block_time,
                "tier": a.tier,
                "merkleRoot": a.root,
                "merkleProof": list(a.proof),
                "leafIndex": a.leaf_index,
                "hashAlg": "SM3 record id; keccak256 Merkle nodes",
                "schemaVersion": "1",
            },
        )


def _credential(
    service: LedgerService,
    source: _Source,
    languages: Sequence[str],
    verify_base: str,
    status_index: int,
    labs: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The W3C VC 2.0 credential of an anchored, public record, unsigned (`labs` memoises the issuers' registry
    entries across a batch)."""
    did = vc.did_web(verify_base, source.lab_member)
    claims = record_claims(source.record, did)
    record_id = claims["relatedResource"][0]["digestSM3"]
    member = source.record["lab"]["member_id"]
    labs = {} if labs is None else labs
    if member not in labs:
        labs[member] = directory.member(service, member)
    accreditation = labs[member]["accreditation"]
    langs = i18n.check(list(languages))
    anchor = source.anchor
    return {
        **claims,
        "issuer": {
            **claims["issuer"],
            "accreditation": None if accreditation is None else {**accreditation, "standard": "ISO/IEC 17025:2017"},
        },
        "name": [{"@value": i18n.gettext(lang, "Certificate of conformity"), "@language": lang} for lang in langs],
        "description": [{"@value": i18n.gettext(lang, STATEMENT), "@language": lang} for lang in langs],
        "chainAnchor": anchor,
        "credentialStatus": vc.status_entries(verify_base, member, status_index),
        "verification": verify_url(verify_base, record_id),
        "calibrationCertificate": _calibration_named(service, source.record),
        "templateSm3": template_digest().hex(),
    }


def overall_verdict(record: Mapping[str, Any]) -> str | None:
    """The record's own statement of conformity, where its type carries one: `pass`, `fail` or `inconclusive`
    (an XRF screening class BL / OL / X per IEC 62321-3-1; an AI or a person's decision); None otherwise."""
    results = record.get("results", {})
    if not isinstance(results, Mapping):
        return None
    kind = record.get("record_type")
    if kind == "xrf_analysis":
        return {"BL": "pass", "OL": "fail", "X": "inconclusive"}.get(str(results.get("screening_class")))
    if kind in ("ai_inspection", "human_review"):
        return {"pass": "pass", "fail": "fail", "review": "inconclusive"}.get(str(results.get("decision")))
    return None


# Maximum concentrations in homogeneous materials, RoHS (Directive 2011/65/EU Annex II, as amended): what an
# XRF screening (IEC 62321-3-1) of Cd, Pb, Hg, total Cr (for Cr(VI)) and total Br (for PBB/PBDE) is held to.
ROHS_MG_KG: Final = {"Cd": 100.0, "Pb": 1000.0, "Hg": 1000.0, "Cr": 1000.0, "Br": 1000.0}
ROHS: Final = "RoHS 2011/65/EU Annex II"
GUARDED: Final = (
    "Guarded band (ILAC-G8): pass when value + U <= limit, fail when value - U > limit, otherwise inconclusive."
)
SIMPLE: Final = "Simple acceptance (ILAC-G8): pass when value <= limit."
NO_SPEC: Final = "No specification stated: results only, no statement of conformity."


@dataclass(frozen=True)
class Line:
    """One line of a certificate's results table (ISO/IEC 17025 7.8.2.1 and 7.8.6)."""

    quantity: str
    value: str
    unit: str
    uncertainty: str  # expanded uncertainty with its coverage factor, or ""
    limit: str  # the specification limit and its source, or ""
    verdict: str | None  # pass, fail, inconclusive; None without a limit


def _number(x: float) -> str:
    return f"{x:g}"


def _judge(value: float, u: float | None, limit: float) -> str:
    """ILAC-G8:09/2019 on an upper limit: a guarded band of w = U where U is stated, else simple acceptance."""
    if u is None:
        return "pass" if value <= limit else "fail"
    if value + u <= limit:
        return "pass"
    return "fail" if value - u > limit else "inconclusive"


def conformity(record: Mapping[str, Any]) -> tuple[list[Line], str | None, str]:
    """The results table of a record, its overall verdict and the decision rule (its English text, a catalog
    message). Per record type: XRF elements against the RoHS limits (mg/kg or mass%), the record's own
    screening class as overall verdict where it states one; measured quantities of tensile tests and
    calibrations with their uncertainty; EL features; AI and human decisions; any other result flattened."""
    results = record.get("results", {}) if isinstance(record.get("results"), Mapping) else {}
    kind = record.get("record_type")
    lines: list[Line] = []
    judged: list[tuple[str, bool]] = []  # (verdict, with uncertainty)

    def u_of(item: Mapping[str, Any]) -> str:
        u, k = item.get("uncertainty"), item.get("coverage_factor")
        return "" if u is None else f"± {_number(u)}" + (f" (k = {_number(k)})" if k else "")

    if kind == "xrf_analysis":
        for e in results.get("elements", []):
            scale = {"mg/kg": 1.0, "mass%": 10_000.0}.get(str(e.get("unit")))
            limit = ROHS_MG_KG.get(str(e.get("element"))) if scale else None
            verdict = None
            if limit is not None and scale is not None:
                u = e.get("uncertainty")
                verdict = _judge(float(e["value"]) * scale, None if u is None else float(u) * scale, limit)
                judged.append((verdict, u is not None))
            shown_limit = "" if limit is None or scale is None else f"max {_number(limit / scale)} {e['unit']} ({ROHS})"
            layer = f" (layer {e['layer']})" if e.get("layer") is not None else ""
            lod = [f"LOD {_number(e['lod'])}"] if e.get("lod") is not None else []
            lines.append(Line(f"{e.get('element')}{layer}", _number(float(e["value"])), str(e.get("unit")),
                              "; ".join([x for x in (u_of(e),) if x] + lod), shown_limit, verdict))  # fmt: skip
        if results.get("screening_class"):
            lines.append(Line("screening class (IEC 62321-3-1)", str(results["screening_class"]), "", "", "", None))
    elif kind in ("tensile_test", "calibration_certificate"):
        for q in results.get("values", results.get("points", [])):
            lines.append(
                Line(str(q.get("quantity")), _number(float(q["value"])), str(q.get("unit")), u_of(q), "", None)
            )
    elif kind == "el_image":
        if results.get("inactive_area_pct") is not None:
            lines.append(Line("inactive area", _number(float(results["inactive_area_pct"])), "%", "", "", None))
        for f in results.get("features", []):
            area = f.get("area_pct")
            shown = ("", "") if area is None else (_number(float(area)), "%")
            lines.append(Line(f"{f.get('kind')} at cell {tuple(f.get('cell', ()))}", *shown, "", "", None))
    tabled = {
        "xrf_analysis": ("elements", "screening_class"),
        "tensile_test": ("values",),
        "calibration_certificate": ("points",),
        "el_image": ("features", "inactive_area_pct"),
    }.get(str(kind), ())
    rest = {k: v for k, v in results.items() if k not in tabled}  # every other result, flattened: nothing left out
    lines += [Line(path, value, "", "", "", None) for path, value in _results(rest)]  # fmt: skip
    overall = overall_verdict(record)
    if overall is None and judged:
        verdicts = {v for v, _ in judged}
        overall = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    rule = (GUARDED if any(with_u for _, with_u in judged) else SIMPLE) if judged else NO_SPEC
    if not judged and overall is not None:
        rule = SIMPLE
    return lines, overall, rule


def _calibration_named(service: LedgerService, record: Mapping[str, Any]) -> dict[str, Any]:
    """The calibration certificate the record cites, by name: its issuer, number and validity, from the ledger's
    own calibration_certificate record (its id stays in `evidence`)."""
    cited = record["instrument"]["calibration"]
    named: dict[str, Any] = {"recordId": cited["certificate_record_id"], "validFrom": cited["valid_from"],
                             "validUntil": cited["valid_until"]}  # fmt: skip
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=cited["certificate_record_id"])
        if row is not None and row.confidentiality == "public":
            doc = json.loads(crud.canonical(session=session, row=row))
            named |= {"issuer": doc["lab"]["name"], "number": doc["report_id"]}
    return named


def verify_url(verify_base: str, record_id: str) -> str:
    """What the QR code opens: the page (or JSON) of the certified record's status."""
    return f"{verify_base.rstrip('/')}/v1/certificates/{record_id}"


def issuer_keys(keys: KeyStore, member: str) -> vc.IssuerKeys:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return vc.IssuerKeys(Ed25519PrivateKey.from_private_bytes(keys.issuer_ed25519(member)), keys.issuer_sm2(member))


def issuer_binding(service: LedgerService, keys: KeyStore, member: str, verify_base: str) -> dict[str, Any]:
    """The member's DID, its keys, and the statement binding them to its registry entry, signed by the member's
    chain account (docs/formats.md section 9.1)."""
    deployment = service.chain.deployment
    if deployment is None:
        raise LedgerError("no consortium on this chain: found or attach one first")
    did = vc.did_web(verify_base, member)
    methods = issuer_keys(keys, member).methods(did)
    statement = vc.binding_statement(did, member, deployment.chain_id, deployment.registry, methods)
    signature = service.chain.sign_message(service.account_of(member), statement)
    return vc.binding(did, member, deployment.chain_id, deployment.registry, methods, signature)


def certificate_leaf(credential_sm3: bytes, page_sm3: bytes) -> bytes:
    """The Merkle leaf of one certificate: its credential and the page that shows it, bound together."""
    return sm3(LEAF_TAG + credential_sm3 + page_sm3)


@dataclass(frozen=True)
class Issued:
    record_id: str
    embedded: dict[str, Any]  # the credential, its record and the proof of its anchor: what the PDF carries
    pdf: bytes


def issue(
    service: LedgerService,
    record_ids: Sequence[str],
    languages: Sequence[str] | Sequence[Sequence[str]],
    verify_base: str,
    workers: int = 1,
    *,
    keys: KeyStore,
) -> list[Issued]:
    """Certificates for anchored records of one lab, on `workers` processes for a large batch: each credential
    rendered first, the digest of its page taken; then one tier C root anchored over a leaf per certificate
    (credential and page digest bound together) and the template digest; then the credential, its record and
    the proof embedded into each PDF without touching its pages. `languages` is one list for every
    certificate, or one list per record. `verify_base` is the service the QR codes open and that serves the
    issuer's did:web and status lists (a required setting: nothing defaults); `keys` holds the issuer's
    credential signing keys and its chain account's key."""
    vc.did_web(verify_base, "x")  # a web address, or ValueError before anything is rendered
    per_record = [list(x) for x in languages] if languages and not isinstance(languages[0], str) else None
    shared = [str(x) for x in languages] if per_record is None else []
    langs = [i18n.check(per_record[i] if per_record else shared) for i in range(len(record_ids))]
    pool = None
    if workers > 1 and len(record_ids) > 1:
        # Spawned, not forked (the caller may hold threads and connections a fork would copy mid-use), and warmed
        # up (fonts loaded) while the credentials are built.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        for _ in range(workers):
            pool.submit(_warm_up)
    try:
        return _issue(service, record_ids, langs, verify_base, pool, workers, keys)
    finally:
        if pool is not None:
            pool.shutdown()


def _issue(
    service: LedgerService,
    record_ids: Sequence[str],
    langs: list[list[str]],
    verify_base: str,
    pool: ProcessPoolExecutor | None,
    workers: int,
    keys: KeyStore,
) -> list[Issued]:
    from datetime import UTC, datetime

    labs: dict[str, dict[str, Any]] = {}
    sources = [_source(service, r) for r in record_ids]
    members = {s.lab_member for s in sources}
    if len(members) != 1:
        raise LedgerError(f"certificates are issued per lab; these records come from {len(members)} labs")
    member = next(iter(members))
    bound = issuer_binding(service, keys, member, verify_base)
    signing = issuer_keys(keys, member)
    with service.sessions.begin() as session:
        indexes = crud.status_indexes(session=session, member=member, record_ids=record_ids, size=vc.STATUS_LIST_BITS)
    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    drafts = [
        {
            "format": FORMAT,
            "credential": vc.sign(
                _credential(service, s, langs[i], verify_base, indexes[r], labs), signing, bound["did"], created
            ),
            "record": s.record,
            "issuerBinding": bound,
        }
        for i, (r, s) in enumerate(zip(record_ids, sources, strict=True))
    ]
    chunks = max(1, len(drafts) // (4 * workers))
    if pool is not None:
        rendered = list(pool.map(_render_draft, drafts, langs, chunksize=chunks))
    else:
        cache_: dict[str, Any] = {}
        rendered = [_render_draft(d, lang, cache_) for d, lang in zip(drafts, langs, strict=True)]
    leaves = [
        certificate_leaf(sm3(canonical_json(d["credential"])), page)
        for d, (_, page) in zip(drafts, rendered, strict=True)
    ]
    # A fresh leaf per issue: issuing a record's certificate again (same credential, same pages) anchors
    # another root, where the same root twice would be refused (QualityLedgerRootExists).
    leaves += [template_digest(), os.urandom(32)]
    receipt = service.anchor_digests(member=member, digests=leaves, kind=CERTIFICATE_KIND)
    proofs = merkle.proofs(leaves)
    root = merkle.root(leaves).hex()
    embedded = [
        {
            **draft,
            "anchor": {
                "root": root,
                "leafIndex": i,
                "proof": [p.hex() for p in proofs[i]],
                "templateProof": [p.hex() for p in proofs[-2]],
                "pageSm3": rendered[i][1].hex(),
                "txHash": "0x" + receipt.tx_hash.hex(),
                "blockNumber": receipt.block_number,
            },
        }  # fmt: skip
        for i, draft in enumerate(drafts)
    ]
    pages = [pdf for pdf, _ in rendered]
    if pool is not None:
        pdfs = list(pool.map(finalize_pdf, pages, embedded, chunksize=chunks))
    else:
        pdfs = [finalize_pdf(pdf, e) for pdf, e in zip(pages, embedded, strict=True)]
    return [Issued(r, e, pdf) for r, e, pdf in zip(record_ids, embedded, pdfs, strict=True)]


def _render_draft(
    draft: dict[str, Any], languages: Sequence[str], cache_: dict[str, Any] | None = None
) -> tuple[bytes, bytes]:
    """The page of a certificate not yet anchored, and its digest."""
    pdf = render_pdf(draft, languages, cache_)
    with certificate_pdf.open_pdf(pdf) as doc:
        return pdf, certificate_pdf.page_digest(doc)


def finalize_pdf(pdf: bytes, embedded: dict[str, Any]) -> bytes:
    """The rendered page with its final attachment (credential, record, anchor proof), checked to show what
    was anchored: the same page digest, one revision, nothing active."""
    out = certificate_pdf.replace_attachment(pdf, ATTACHMENT, _attachment_text(embedded).encode())
    with certificate_pdf.open_pdf(out) as doc:
        problems = [p for p in (certificate_pdf.revision_problem(out, doc),) if p]
        problems += certificate_pdf.active_content_problems(doc, ATTACHMENT)
        if certificate_pdf.page_digest(doc).hex() != embedded["anchor"]["pageSm3"]:
            problems.append("its page digest moved")
    if problems:
        raise LedgerError(f"the certificate of {embedded['credential']['id']} would not verify: {problems[0]}")
    return out


def _attachment_text(embedded: dict[str, Any]) -> str:
    return json.dumps(embedded, ensure_ascii=False, indent=1)


def _warm_up() -> None:
    from weasyprint import HTML

    # Loads the shipped fonts into this worker's font configuration, the one its certificates render with.
    html = f'<style>{i18n.font_faces()}</style><p style="font-family: {i18n.FONT!r}">warm-up</p>'
    HTML(string=html).write_pdf(font_config=i18n.font_config())


def _results(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """The record's results flattened to (path, value) lines, every one (nothing is cut: a long table continues
    on the next page)."""
    out: list[tuple[str, str]] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, dict):
            for k, item in v.items():
                walk(item, f"{path}.{k}" if path else k)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, item in enumerate(v):
                walk(item, f"{path}[{i}]")
        else:
            out.append((path, json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v))

    walk(value, prefix)
    return out


# The user-agent style sheet of a certificate: the elements the template uses, with the defaults of WeasyPrint's
# HTML5 sheet (weasyprint/css/html5_ua.css) for them. Matching every element against the whole HTML5 sheet took
# a quarter of a certificate's rendering (docs/architecture.md, "Certificates in a batch").
_UA = """
head, style, title, script, meta { display: none }
html, body, div, p, h1 { display: block }
body { margin: 8px }
h1 { margin: .67em 0; font-size: 2em; font-weight: bold; hyphens: manual; break-after: avoid; break-inside: avoid;
     bookmark-level: 1; bookmark-label: content(text) }
table { display: table; box-sizing: border-box; border-spacing: 2px; border-collapse: separate;
        text-indent: initial; border-color: gray }
thead { display: table-header-group; vertical-align: middle; border-color: inherit }
tbody { display: table-row-group; vertical-align: middle; border-color: inherit }
tr { display: table-row; vertical-align: inherit; border-color: inherit }
td, th { display: table-cell; padding: 1px; vertical-align: inherit; border-color: gray }
b, th { font-weight: bold } i { font-style: italic } code { font-family: monospace }
br::before { content: "\\A"; white-space: pre-line }
svg { overflow: hidden }
"""


def _sheets() -> tuple[Any, Any]:
    """The certificate's user-agent and author style sheets, parsed once per thread with that thread's font
    configuration (the shipped fonts' @font-face rules are registered into it once): every certificate of a
    batch reuses them, where a style sheet inside each page was parsed and its selectors compiled every time."""
    cache = i18n.rendering_cache()
    sheets = getattr(cache, "sheets", None)
    if sheets is None:
        from weasyprint import CSS

        text = _env.get_template("certificate.css.j2").render(
            font_faces=i18n.font_faces(), font=i18n.FONT, mono=i18n.MONO, fonts=i18n.FONTS
        )
        config = i18n.font_config()
        sheets = cache.sheets = (CSS(string=_UA, font_config=config), CSS(string=text, font_config=config))
    return sheets


def _html_class() -> Any:
    from weasyprint import HTML

    class CertificateHTML(HTML):  # type: ignore[misc]
        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            return [_sheets()[0]]

    return CertificateHTML


def render_pdf(embedded: dict[str, Any], languages: Sequence[str], cache_: dict[str, Any] | None = None) -> bytes:
    """PDF/A-3b with the embedded credential (relationship Data) and a QR code to the verification URL."""
    import segno
    from weasyprint import Attachment

    cred = embedded["credential"]
    langs = i18n.check(list(languages))
    verify_url = cred["verification"]
    assessment = cred["credentialSubject"]["assessment"]
    # The page shows what the credential says (the credential and the page are anchored together).
    table, overall, rule = conformity({"record_type": assessment.get("record_type"), "results": assessment["results"]})
    html = _env.get_template("certificate.html.j2").render(
        c=cred,
        langs=langs,
        t=i18n.gettext,
        qr=segno.make(verify_url, error="m").svg_inline(scale=2),
        verify_url=verify_url,
        record_id=cred["credentialSubject"]["id"].rsplit(":", 1)[1],
        table=table,
        overall=overall,
        rule=rule,
        calibration=cred.get("calibrationCertificate") or {},
        signatures=embedded.get("record", {}).get("signatures", []),
    )
    attachment = Attachment(
        string=json.dumps(embedded, ensure_ascii=False, indent=1),
        name=ATTACHMENT,
        description="W3C VC 2.0 credential of this certificate, with the proof of its anchor",
        relationship="Data",
    )
    missing = _MissingGlyphs()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(missing)
    try:
        pdf: bytes = _HTML()(string=html).write_pdf(
            pdf_variant="pdf/a-3b",
            attachments=[attachment],
            cache=cache_,
            font_config=i18n.font_config(),
            stylesheets=[_sheets()[1]],
        )
    finally:
        logger.removeHandler(missing)
    if missing.characters:
        shown = ", ".join(f"U+{ord(c):04X}" for c in sorted(missing.characters))
        raise MissingGlyphs(f"no font draws {shown}: the certificate would show empty boxes")
    return pdf


_HTML = cache(_html_class)


class MissingGlyphs(LedgerError):
    """A character of the certificate has no glyph in the shipped fonts (esg_reports/fonts) or any other."""


class _MissingGlyphs(logging.Handler):
    """Collects the characters WeasyPrint had to draw as .notdef (it logs each one)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.characters: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(".notdef glyph rendered") and len(record.args or ()) >= 1:
            self.characters.add(str(record.args[0]))  # type: ignore[index]


# ---------------------------------------------------------------- verification

T = TypeVar("T")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_RECORD_URN = re.compile(r"urn:qledger:record:([0-9a-f]{64})")
MAX_PROOF = 64  # Merkle proof steps: a root over 2**64 leaves
EMBEDDED_KEYS: Final = frozenset({"format", "credential", "record", "anchor", "issuerBinding"})
ANCHOR_KEYS: Final = frozenset({"root", "leafIndex", "proof", "templateProof", "pageSm3", "txHash", "blockNumber"})
CREDENTIAL_KEYS: Final = frozenset(
    {"@context", "id", "type", "issuer", "validFrom", "name", "description", "authoritativeLanguage",
     "credentialSubject", "evidence", "relatedResource", "chainAnchor", "credentialStatus", "verification",
     "templateSm3", "proof", "calibrationCertificate"}
)  # fmt: skip


class Malformed(Exception):
    """The embedded attachment lacks a member, has one it should not, or one of the wrong type."""


@dataclass(frozen=True)
class Embedded:
    """A certificate's attachment, strictly parsed: what the checks read, typed."""

    credential: dict[str, Any]
    credential_sm3: bytes  # SM3 of its canonical JSON
    record: dict[str, Any]
    record_sm3: bytes
    record_id: str  # the record the credential names (credentialSubject.id)
    issuer_did: str
    template_sm3: bytes
    root: bytes
    proof: tuple[bytes, ...]
    template_proof: tuple[bytes, ...]
    page_sm3: bytes
    tx_hash: bytes
    record_root: bytes | None  # the record's own anchor (chainAnchor), None for tier A
    record_proof: tuple[bytes, ...]
    shown: tuple[str, ...]  # what the page must show in text (VisibleText)
    binding: dict[str, Any]  # the issuer's DID keys and their binding to its registry account


@dataclass(frozen=True)
class Presented:
    """A certificate as the verifier was given it: the PDF's bytes and its parsed attachment."""

    pdf: bytes
    embedded: Embedded
    text: str | None = None  # its visible text, where a sweep extracted it beforehand (verify_pdfs)


def _member(obj: Mapping[str, Any], key: str, kind: type[T], path: str) -> T:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise Malformed(f"{path}.{key}: expected {'an integer' if kind is int else kind.__name__}")
    return value


def _optional_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"{path}.{key}: expected str or nothing")
    return value


def _exact_keys(obj: Mapping[str, Any], expected: frozenset[str], path: str) -> None:
    missing, extra = sorted(expected - obj.keys()), sorted(obj.keys() - expected)
    if missing:
        raise Malformed(f"{path}.{missing[0]}: missing")
    if extra:
        raise Malformed(f"{path}.{extra[0]}: not a member of {FORMAT}")


def _hex32(value: Any, path: str, prefix: str = "") -> bytes:
    if not isinstance(value, str) or not value.startswith(prefix) or not _HEX32.fullmatch(value[len(prefix) :]):
        raise Malformed(f"{path}: expected {prefix}<64 lowercase hex digits>")
    return bytes.fromhex(value[len(prefix) :])


def _proof(value: Any, path: str) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > MAX_PROOF:
        raise Malformed(f"{path}: expected a list of at most {MAX_PROOF} digests")
    return tuple(_hex32(step, f"{path}[{i}]") for i, step in enumerate(value))


def parse_embedded(value: Any) -> Embedded:
    """The attachment of a certificate PDF, every member a check reads checked for presence and type;
    Malformed (naming the member) otherwise. Any JSON at all may arrive here: a forged PDF carries what its
    forger wrote."""
    if not isinstance(value, dict):
        raise Malformed("$: expected an object")
    _exact_keys(value, EMBEDDED_KEYS, "$")
    cred = _member(value, "credential", dict, "$")
    record = _member(value, "record", dict, "$")
    anchor = _member(value, "anchor", dict, "$")
    bound = _member(value, "issuerBinding", dict, "$")
    _member(bound, "verificationMethods", dict, "$.issuerBinding")
    _exact_keys(cred, CREDENTIAL_KEYS, "credential")
    _exact_keys(anchor, ANCHOR_KEYS, "anchor")
    issuer = _member(cred, "issuer", dict, "credential")
    subject = _member(cred, "credentialSubject", dict, "credential")
    urn = _RECORD_URN.fullmatch(_member(subject, "id", str, "credential.credentialSubject"))
    if urn is None:
        raise Malformed("credential.credentialSubject.id: expected urn:qledger:record:<record id>")
    item = _member(subject, "item", dict, "credential.credentialSubject")
    assessment = _member(subject, "assessment", dict, "credential.credentialSubject")
    shown = [
        _member(assessment, "report_id", str, "credential.credentialSubject.assessment"),
        urn.group(1),
        _member(item, "unambiguous_id", str, "credential.credentialSubject.item"),
    ]
    shown += [v for k in ("product", "lot") if (v := _optional_str(item, k, "credential.credentialSubject.item"))]
    for i, entry in enumerate(_member(cred, "name", list, "credential")):
        if not isinstance(entry, dict):
            raise Malformed(f"credential.name[{i}]: expected an object")
        text = _member(entry, "@value", str, f"credential.name[{i}]")
        if _member(entry, "@language", str, f"credential.name[{i}]") == i18n.AUTHORITATIVE:
            shown.append(text)  # the authoritative (English) title: extracted exactly in every script
    chain_anchor = _member(cred, "chainAnchor", dict, "credential")
    shown.append(_member(chain_anchor, "txHash", str, "credential.chainAnchor"))
    record_root = chain_anchor.get("merkleRoot")
    _member(anchor, "leafIndex", int, "anchor")
    _member(anchor, "blockNumber", int, "anchor")
    try:
        credential_sm3, record_sm3 = sm3(canonical_json(cred)), sm3(canonical_json(record))
    except ValueError as error:  # a number canonical JSON cannot write
        raise Malformed(f"not canonical JSON: {error}") from None
    return Embedded(
        credential=cred,
        credential_sm3=credential_sm3,
        record=record,
        record_sm3=record_sm3,
        record_id=urn.group(1),
        issuer_did=_member(issuer, "id", str, "credential.issuer"),
        template_sm3=_hex32(cred.get("templateSm3"), "credential.templateSm3"),
        root=_hex32(anchor["root"], "anchor.root"),
        proof=_proof(anchor["proof"], "anchor.proof"),
        template_proof=_proof(anchor["templateProof"], "anchor.templateProof"),
        page_sm3=_hex32(anchor["pageSm3"], "anchor.pageSm3"),
        tx_hash=_hex32(anchor["txHash"], "anchor.txHash", "0x"),
        record_root=None if record_root in (None, "") else _hex32(record_root, "credential.chainAnchor.merkleRoot"),
        record_proof=_proof(chain_anchor.get("merkleProof"), "credential.chainAnchor.merkleProof"),
        shown=tuple(shown),
        binding=bound,
    )


def embedded_credential(pdf: bytes) -> dict[str, Any] | None:
    """The attachment of a certificate PDF as JSON (any object), or None: for display and for finding the
    contracts it names; the checks read it through `parse_embedded`."""
    try:
        data = certificate_pdf.read_attachment(pdf, ATTACHMENT)
        value = None if data is None else safejson.loads(data)  # a forged PDF may carry any JSON at all
    except (certificate_pdf.PdfRefused, safejson.JsonRefused):
        return None
    return value if isinstance(value, dict) else None


def read_certificate(pdf: bytes) -> Presented | Fragment:
    """The PDF and its parsed attachment, or the CertificateCredential fragment saying why there is none to
    check: NO_CREDENTIAL (no attachment, not JSON within limits, another format), CREDENTIAL_MALFORMED."""
    name = "CertificateCredential"
    try:
        data = certificate_pdf.read_attachment(pdf, ATTACHMENT)
        if data is None:
            return not_valid(name, "certificate", INVALID, Reason.NO_CREDENTIAL, f"no {ATTACHMENT}")
        value = safejson.loads(data)
        if not isinstance(value, dict) or value.get("format") != FORMAT:
            found = value.get("format") if isinstance(value, dict) else None
            return not_valid(
                name, "certificate", INVALID, Reason.NO_CREDENTIAL, f"{ATTACHMENT} is not {FORMAT} (format {found!r})"
            )
        return Presented(pdf, parse_embedded(value))
    except certificate_pdf.PdfRefused as error:
        return not_valid(name, "certificate", INVALID, Reason.NO_CREDENTIAL, str(error))
    except safejson.JsonRefused as error:
        return not_valid(name, "certificate", INVALID, Reason.NO_CREDENTIAL, f"{ATTACHMENT}: {error.code}: {error}")
    except Malformed as error:
        return not_valid(name, "certificate", INVALID, Reason.CREDENTIAL_MALFORMED, str(error))
    except Exception as error:  # never an exception out of verification: an unforeseen input is an ERROR
        return not_valid(name, "certificate", Status.ERROR, Reason.UNEXPECTED_ERROR, f"{type(error).__name__}: {error}")


_PDFIUM = threading.Lock()  # PDFium is not thread-safe: one document at a time in a process
# PDFium marks a hyphen it found at a line's end (a word wrapped there) as U+0002, or U+FFFE: dropped, as
# VisibleText drops hyphens (docs/formats.md section 9).
_PDFIUM_MARKS: Final = str.maketrans("", "", "\x02\ufffe")


def visible_text(pdf: bytes) -> str | None:
    """The text a person sees, white space removed: PDFium's text layer (pypdfium2, in this process, about six
    times cheaper than a pdftotext process per PDF: bench/certificates.py), else poppler's pdftotext (a PDF
    that PDFium does not open, or no pypdfium2); None where neither gives it."""
    text = _pdfium_text(pdf)
    if text is not None:
        return text
    if shutil.which("pdftotext") is None:
        return None
    run = subprocess.run(["pdftotext", "-q", "-", "-"], input=pdf, capture_output=True, check=False)
    return "".join(run.stdout.decode("utf-8", "replace").split()) if run.returncode == 0 else None


def _pdfium_text(pdf: bytes) -> str | None:
    """Every page's text by PDFium, None where pypdfium2 is not installed or PDFium refuses the file."""
    try:
        import pypdfium2  # type: ignore[import-untyped]
    except ImportError:
        return None
    with _PDFIUM:
        try:
            document = pypdfium2.PdfDocument(pdf)
        except pypdfium2.PdfiumError:
            return None
        try:
            parts = []
            for page in document:
                textpage = page.get_textpage()
                parts.append(str(textpage.get_text_range()))
                textpage.close()
                page.close()
        except pypdfium2.PdfiumError:
            return None
        finally:
            document.close()
    return "".join("".join(parts).translate(_PDFIUM_MARKS).split())


def issuer_account(reader: ChainReader, did: str) -> str | None:
    """The account of the lab that issues the credential, from the consortium registry: its DID names the lab's
    member id (lowercased by did:web, so the registry is asked for it as written and in capitals). Record,
    root and status are read under this account only: another member's anchor of the same digests is that
    member's (docs/threat-model.md)."""
    member = vc.member_of_did(did) or ""
    for candidate in dict.fromkeys((member, member.upper())):
        account = reader.member_account(candidate) if candidate else None
        if account is not None:
            return account
    return None


def same_account(a: Any, b: str) -> bool:
    return str(a).lower() == b.lower()


RECALL_IN_FORCE: Final = 2  # RecallRegistry: confirmed and not closed


def recalls_covering(chain: ChainReader, record: Mapping[str, Any], record_id: str) -> list[int] | None:
    """The recalls in force on chain whose scope covers the record as anyone can tell from the chain alone: its
    lot, its product, or a list of records that is this record alone (a longer list's members are known only
    to the regulator's index: docs/threat-model.md). None when the verifier knows no recall registry."""
    client = chain.client
    deployment = client.deployment
    if deployment is None or int(deployment.recalls, 16) == 0:
        return None
    from ledger_service import confidential

    subject = record.get("subject")
    subject = subject if isinstance(subject, Mapping) else {}
    lot, product = subject.get("lot"), subject.get("product")
    scopes = {
        confidential.RECORDS: merkle.root([bytes.fromhex(record_id)]),
        **({confidential.LOT: confidential.scope_digest(confidential.LOT, lot)} if isinstance(lot, str) else {}),
        **(
            {confidential.PRODUCT: confidential.scope_digest(confidential.PRODUCT, product)}
            if isinstance(product, str)
            else {}
        ),
    }
    out = []
    for recall_id in range(chain.recall_count(), 0, -1):
        view = chain.recall_of(recall_id)
        if view.status == RECALL_IN_FORCE and scopes.get(view.scope_kind) == view.scope:
            out.append(recall_id)
    return out


def verify_pdf(chain: Web3ChainClient, pdf: bytes, reader: ChainReader | None = None) -> list[Fragment]:
    """Every check of a certificate PDF against the consortium's contracts on `chain` (no index needed), one
    fragment each, never an exception: the embedded credential; the PDF's revisions, document-level content
    and pages; the anchor of credential and page, and of the template; the credential against its record; the
    record's status on chain; the visible text (esg_reports/certificate_checks, one module each). `reader`:
    the chain reader of a sweep (verify_pdfs)."""
    return verify_pdfs(chain, [pdf], reader)[0]


def verify_pdfs(
    chain: Web3ChainClient, pdfs: Sequence[bytes], reader: ChainReader | None = None
) -> list[list[Fragment]]:
    """`verify_pdf` for many certificates, with one chain reader for all (docs/architecture.md, "Certificates in
    a batch"): what certificates of one issue share (the issuer's account, its root, its transaction's events)
    is read once, and every record's status is read in one `statusesOf` call before the checks run."""
    from esg_reports.certificate_checks import CERTIFICATE_CHECKS, prepare
    from ledger_service.verification import CertificateTarget, Context, verification_builder

    reader = ChainReader(chain) if reader is None else reader
    targets = [CertificateTarget(pdf) for pdf in pdfs]
    prepare(targets, reader)
    verifier, context = verification_builder(CERTIFICATE_CHECKS), Context(reader, chain.deployment)
    return [verifier(target, context) for target in targets]


def is_valid(fragments: Sequence[Fragment]) -> bool:
    """A certificate passes when every check is VALID and its certificate and status checks are present."""
    return verification_is_valid(fragments, ("certificate", "status"))


def records_of(service: LedgerService, target: str) -> list[str]:
    """A record id, or every anchored public record of a lot."""
    with service.sessions() as session:
        if crud.get_record(session=session, record_id=target) is not None:
            return [target]
        rows = crud.list_records(session=session, lot=target, status="anchored", limit=10_000)
        ids = [r.id for r in rows if r.confidentiality == "public"]
    if not ids:
        raise UnknownEntry(f"{target!r} is neither a record id nor a lot with anchored public records")
    return ids


def public_status(service: LedgerService, record_id: str) -> dict[str, Any]:
    """What the QR code opens, for anyone: the certified record's status on chain and its anchor (no content).
    Confidential or unknown records are not found."""
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=record_id)
        if row is None or row.confidentiality != "public" or row.anchor is None:
            raise UnknownEntry(f"no certified record {record_id}")
        a = row.anchor
        anchor = {"tier": a.tier, "chain_id": a.chain_id, "contract": a.contract, "tx_hash": a.tx_hash,
                  "block_number": a.block_number, "root": a.root}  # fmt: skip
        root, proof = a.root, list(a.proof)
    status = service.chain.status(
        bytes.fromhex(record_id),
        bytes.fromhex(root) if root else None,
        [bytes.fromhex(p) for p in proof],
        service.submitter_of(record_id),
    )
    return {
        "record_id": record_id,
        "status": status.name.lower(),
        "anchor": anchor,
        "verify_certificate": "POST the certificate PDF to /v1/certificates/verify",
    }
