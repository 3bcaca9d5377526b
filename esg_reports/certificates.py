"""Conformity certificates a foreign importer can verify (docs/domain.md section 6): a W3C VC 2.0 credential
built from an anchored record, anchored itself (its SM3 under a tier C root, with the digest of the template and
catalogs that render it), rendered as PDF/A-3b in several languages with the credential embedded as an
attachment and a QR code to the verification URL. `verify_pdf` checks a certificate PDF against the chain."""

from __future__ import annotations

import base64
import io
import json
import logging
import multiprocessing
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from esg_reports import i18n
from ledger_service import directory, merkle, safejson
from ledger_service.canonical import canonical_json
from ledger_service.chain import Web3ChainClient
from ledger_service.chain.types import OnChainStatus
from ledger_service.chain.web3_client import ChainReader
from ledger_service.digests import sm3
from ledger_service.errors import LedgerError, UnknownEntry
from ledger_service.index import crud
from ledger_service.service import LedgerService
from ledger_service.verification import Fragment, Reason, Status
from ledger_service.verification import is_valid as verification_is_valid
from ledger_service.verification.fragment import not_valid, valid

INVALID = Status.INVALID

HERE = Path(__file__).resolve().parent
FORMAT = "qledger-certificate/1"
ATTACHMENT = "credential.json"
_env = Environment(loader=PackageLoader("esg_reports"), autoescape=select_autoescape(["html", "j2"]))


@cache
def template_digest() -> bytes:
    """SM3 over the certificate template, every catalog and every font file: what renders the visible text (a
    changed font is a changed template)."""
    parts = [(HERE / "templates" / "certificate.html.j2").read_bytes()]
    parts += [p.read_bytes() for p in sorted((HERE / "locale").glob("*/LC_MESSAGES/certificate.po"))]
    parts += [p.read_bytes() for p in i18n.font_paths()]
    return sm3(b"".join(sm3(p) for p in parts))


def credential(
    service: LedgerService,
    record_id: str,
    languages: Sequence[str],
    verify_url: str,
    labs: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The W3C VC 2.0 credential of an anchored, public record (`labs` memoises the issuers' registry entries
    across a batch)."""
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=record_id)
        if row is None:
            raise UnknownEntry(f"no record {record_id}")
        if row.anchor is None:
            raise LedgerError(f"record {record_id} is not anchored yet: certify it once it is")
        if row.confidentiality == "confidential":
            raise LedgerError(f"record {record_id} is confidential: it gets no public certificate")
        doc = json.loads(crud.canonical(session=session, row=row))
        a = row.anchor
        anchor = {
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
        }
        sha256 = bytes.fromhex(row.sha256)
        cert = crud.get_certificate(
            session=session, record_id=doc["instrument"]["calibration"]["certificate_record_id"]
        )
        calibration_until = cert.valid_until.date().isoformat() if cert is not None else None
    labs = {} if labs is None else labs
    if doc["lab"]["member_id"] not in labs:
        labs[doc["lab"]["member_id"]] = directory.member(service, doc["lab"]["member_id"])
    lab = labs[doc["lab"]["member_id"]]
    accreditation = lab["accreditation"]
    langs = i18n.check(list(languages))
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://qledger.example/ns/rqdma/v1"],
        "id": f"urn:qledger:certificate:{record_id}",
        "type": ["VerifiableCredential", "RQDMAConformityCredential"],
        "issuer": {
            "id": f"did:web:{doc['lab']['member_id'].lower()}.members.qledger.example",
            "name": doc["lab"]["name"],
            "address": doc["lab"]["address"],
            "accreditation": None if accreditation is None else {**accreditation, "standard": "ISO/IEC 17025:2017"},
        },
        "validFrom": f"{doc['date_issued']}T00:00:00Z",
        "name": [{"@value": i18n.gettext(lang, "Certificate of conformity"), "@language": lang} for lang in langs],
        "description": [
            {"@value": i18n.gettext(lang, "The results relate only to the items tested."), "@language": lang}
            for lang in langs
        ],
        "authoritativeLanguage": i18n.AUTHORITATIVE,
        "credentialSubject": {
            "id": f"urn:qledger:record:{record_id}",
            "item": doc["subject"],
            "assessment": {
                "title": doc["title"],
                "report_id": doc["report_id"],
                "record_type": doc["record_type"],
                "method": doc["method"],
                "measured_at": doc["measured_at"],
                "date_issued": doc["date_issued"],
                "results": doc["results"],
                "statement": "The results relate only to the items tested.",
            },
        },
        "evidence": [
            {
                "type": ["QualityEvidence"],
                "instrument": {k: v for k, v in doc["instrument"].items() if k != "calibration"},
                "calibration": {**doc["instrument"]["calibration"], "valid_until": calibration_until},
                "operator": doc["operator"]["id"],
                "checker": doc["checker_id"],
                "authorizer": doc["authorized_by"],
            }
        ],
        "relatedResource": [
            {
                "id": f"urn:qledger:record:{record_id}",
                "digestSRI": "sha256-" + base64.b64encode(sha256).decode(),
                "digestSM3": record_id,
            }
        ],  # fmt: skip
        "chainAnchor": anchor,
        "credentialStatus": {
            "id": verify_url,
            "type": "QledgerChainRecordStatus",
            "statusPurpose": "revocation",
            "chainId": anchor["chainId"],
            "contract": anchor["contract"],
            "recordId": record_id,
        },  # fmt: skip
        "verification": verify_url,
        "templateSm3": template_digest().hex(),
    }


@dataclass(frozen=True)
class Issued:
    record_id: str
    embedded: dict[str, Any]  # the credential and the proof of its anchor: what the PDF carries
    pdf: bytes


def issue(
    service: LedgerService,
    record_ids: Sequence[str],
    languages: Sequence[str] | Sequence[Sequence[str]],
    verify_base: str,
    workers: int = 1,
) -> list[Issued]:
    """Certificates for anchored records of one lab: credentials anchored together (one tier C root over their
    SM3 digests and the template digest), then rendered, on `workers` processes for a large batch.
    `languages` is one list for every certificate, or one list per record."""
    per_record = [list(x) for x in languages] if languages and not isinstance(languages[0], str) else None
    shared = [str(x) for x in languages] if per_record is None else []
    langs = [i18n.check(per_record[i] if per_record else shared) for i in range(len(record_ids))]
    pool = None
    if workers > 1 and len(record_ids) > 1:
        # Spawned, not forked (the caller may hold threads and connections a fork would copy mid-use), and warmed
        # up (fonts loaded) while the credentials are built and anchored.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        for _ in range(workers):
            pool.submit(_warm_up)
    labs: dict[str, dict[str, Any]] = {}
    creds = [
        credential(service, r, langs[i], f"{verify_base.rstrip('/')}/v1/certificates/{r}", labs)
        for i, r in enumerate(record_ids)
    ]
    members = {_lab_member(service, r) for r in record_ids}
    if len(members) != 1:
        raise LedgerError(f"certificates are issued per lab; these records come from {len(members)} labs")
    leaves = [sm3(canonical_json(c)) for c in creds] + [template_digest()]
    receipt = service.anchor_digests(member=members.pop(), digests=leaves, kind="certificate")
    proofs = merkle.proofs(leaves)
    root = merkle.root(leaves).hex()
    embedded = [
        {
            "format": FORMAT,
            "credential": cred,
            "anchor": {
                "root": root,
                "leafIndex": i,
                "proof": [p.hex() for p in proofs[i]],
                "templateProof": [p.hex() for p in proofs[-1]],
                "txHash": "0x" + receipt.tx_hash.hex(),
                "blockNumber": receipt.block_number,
            },
        }  # fmt: skip
        for i, cred in enumerate(creds)
    ]
    if pool is not None:
        with pool:
            pdfs = list(pool.map(render_pdf, embedded, langs, chunksize=max(1, len(embedded) // (4 * workers))))
    else:
        cache_: dict[str, Any] = {}
        pdfs = [render_pdf(e, lang, cache_) for e, lang in zip(embedded, langs, strict=True)]
    return [Issued(r, e, pdf) for r, e, pdf in zip(record_ids, embedded, pdfs, strict=True)]


def _warm_up() -> None:
    from weasyprint import HTML

    # Loads the shipped fonts into this worker's font configuration, the one its certificates render with.
    html = f'<style>{i18n.font_faces()}</style><p style="font-family: {i18n.FONT!r}">warm-up</p>'
    HTML(string=html).write_pdf(font_config=i18n.font_config())


def _lab_member(service: LedgerService, record_id: str) -> str:
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=record_id)
        assert row is not None
        return row.lab_member


def _results(value: Any, prefix: str = "", limit: int = 8) -> list[tuple[str, str]]:
    """The record's results flattened to (path, value) lines for the page (the credential has them all)."""
    out: list[tuple[str, str]] = []

    def walk(v: Any, path: str) -> None:
        if len(out) >= limit:
            return
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


def render_pdf(embedded: dict[str, Any], languages: Sequence[str], cache_: dict[str, Any] | None = None) -> bytes:
    """PDF/A-3b with the embedded credential (relationship Data) and a QR code to the verification URL."""
    import segno
    from weasyprint import HTML, Attachment

    cred = embedded["credential"]
    langs = i18n.check(list(languages))
    verify_url = cred["verification"]
    html = _env.get_template("certificate.html.j2").render(
        c=cred,
        langs=langs,
        t=i18n.gettext,
        font_faces=i18n.font_faces(),
        font=i18n.FONT,
        mono=i18n.MONO,
        fonts={lang: family for lang, family in i18n.FONTS.items() if lang in langs},
        qr=segno.make(verify_url, error="m").svg_inline(scale=2),
        verify_url=verify_url,
        record_id=cred["credentialSubject"]["id"].rsplit(":", 1)[1],
        results=_results(cred["credentialSubject"]["assessment"]["results"]),
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
        pdf: bytes = HTML(string=html).write_pdf(
            pdf_variant="pdf/a-3b", attachments=[attachment], cache=cache_, font_config=i18n.font_config()
        )
    finally:
        logger.removeHandler(missing)
    if missing.characters:
        shown = ", ".join(f"U+{ord(c):04X}" for c in sorted(missing.characters))
        raise MissingGlyphs(f"no font draws {shown}: the certificate would show empty boxes")
    return pdf


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


def embedded_credential(pdf: bytes) -> dict[str, Any] | None:
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            files = doc.attachments
            if ATTACHMENT not in files:
                return None
            data: bytes = files[ATTACHMENT].get_file().read_bytes()
    except pikepdf.PdfError:
        return None
    try:
        value = safejson.loads(data)  # a forged PDF may carry any JSON at all
    except safejson.JsonRefused:
        return None
    return value if isinstance(value, dict) else None


def visible_text(pdf: bytes) -> str | None:
    """The text a person sees, via poppler's pdftotext; None where poppler is not installed."""
    if shutil.which("pdftotext") is None:
        return None
    run = subprocess.run(["pdftotext", "-q", "-", "-"], input=pdf, capture_output=True, check=False)
    return "".join(run.stdout.decode("utf-8", "replace").split()) if run.returncode == 0 else None


def _issuer_account(reader: ChainReader, cred: Mapping[str, Any]) -> str | None:
    """The account of the lab that issues the credential, from the consortium registry: its DID names the lab's
    member id (lowercased by did:web, so the registry is asked for it as written and in capitals). Record,
    root and status are read under this account only: another member's anchor of the same digests is that
    member's (docs/threat-model.md)."""
    did = str(cred.get("issuer", {}).get("id", ""))
    member = did.removeprefix("did:web:").split(".members.", 1)[0]
    for candidate in dict.fromkeys((member, member.upper())):
        account = reader.member_account(candidate) if candidate else None
        if account is not None:
            return account
    return None


def verify_pdf(chain: Web3ChainClient, pdf: bytes) -> list[Fragment]:
    """Every check of a certificate PDF against the consortium's contracts on `chain` (no index needed), as
    verification fragments: embedded credential, its anchor, the template's anchor, the record's status on
    chain, and the visible text against the credential."""
    embedded = embedded_credential(pdf)
    if embedded is None or embedded.get("format") != FORMAT:
        return [not_valid("CertificateCredential", "certificate", INVALID, Reason.NO_CREDENTIAL, f"no {ATTACHMENT}")]
    cred, anchor = embedded["credential"], embedded["anchor"]
    checks = [valid("CertificateCredential", "certificate")]
    root = bytes.fromhex(anchor["root"])
    leaf = sm3(canonical_json(cred))
    reader = ChainReader(chain)
    issuer = _issuer_account(reader, cred)
    root_anchored = issuer is not None and int(reader.root_of(root, issuer)["anchored_at"]) > 0
    name = "CertificateAnchor"
    if not merkle.verify(leaf, [bytes.fromhex(p) for p in anchor["proof"]], root):
        checks.append(not_valid(name, "certificate", INVALID, Reason.DIGEST_MISMATCH, "not the credential anchored"))
    elif not root_anchored:
        checks.append(not_valid(name, "certificate", INVALID, Reason.NOT_ANCHORED, "its root is not on chain"))
    else:
        checks.append(valid(name, "certificate", root=anchor["root"]))
    template = bytes.fromhex(cred["templateSm3"])
    template_ok = root_anchored and merkle.verify(template, [bytes.fromhex(p) for p in anchor["templateProof"]], root)
    checks.append(
        valid("CertificateTemplate", "certificate", template_sm3=cred["templateSm3"])
        if template_ok
        else not_valid(
            "CertificateTemplate", "certificate", INVALID, Reason.TEMPLATE_NOT_ANCHORED, "its template is not anchored"
        )
    )
    a = cred["chainAnchor"]
    record_id = cred["credentialSubject"]["id"].rsplit(":", 1)[1]
    status = chain.status(
        bytes.fromhex(record_id), bytes.fromhex(a["merkleRoot"]) if a["merkleRoot"] else None,
        [bytes.fromhex(p) for p in a["merkleProof"]], issuer,
    )  # fmt: skip
    if status is OnChainStatus.ANCHORED:
        checks.append(valid("RecordStatus", "status", record_id=record_id))
    else:
        code = {OnChainStatus.NONE: Reason.NOT_ANCHORED, OnChainStatus.REVOKED: Reason.REVOKED}.get(
            status, Reason.SUPERSEDED
        )
        checks.append(not_valid("RecordStatus", "status", INVALID, code, f"the record is {status.name.lower()}"))
    text = visible_text(pdf)
    if text is None:
        checks.append(
            not_valid("VisibleText", "certificate", Status.ERROR, Reason.NO_TEXT_EXTRACTOR, "no pdftotext (poppler)")
        )
    else:
        subject, assessment = cred["credentialSubject"], cred["credentialSubject"]["assessment"]
        expected = [assessment["report_id"], record_id, subject["item"]["unambiguous_id"], a["txHash"]]
        expected += [subject["item"][k] for k in ("product", "lot") if subject["item"].get(k)]
        # Identifiers and the authoritative (English) title: text extraction is exact for these in every script.
        expected += [entry["@value"] for entry in cred["name"] if entry["@language"] == i18n.AUTHORITATIVE]
        missing = ["".join(str(e).split()) for e in expected if "".join(str(e).split()) not in text]
        checks.append(
            valid("VisibleText", "certificate")
            if not missing
            else not_valid(
                "VisibleText", "certificate", INVALID, Reason.VISIBLE_TEXT_MISMATCH, f"the page lacks {missing[0]!r}"
            )
        )
    return checks


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
