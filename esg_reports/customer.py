"""The customer-request pack (docs/domain.md section 5.5): after the 2025-26 Omnibus most module makers and labs
are outside CSRD and protected by the value-chain cap, and answer a customer's request with the datapoints of
the voluntary SME standard (VSME) that their records evidence. The pack is built from the same report, signed
with the reporting member's SM2 key and anchored (its SM3 as a one-leaf tier C root of kind customer-pack), so
the customer checks who made it, that nothing changed since, and which anchored report it came from.
"""

from __future__ import annotations

import json
from typing import Any

from esg_reports.pack import figures_document
from esg_reports.report import Report
from ledger_service import merkle
from ledger_service.canonical import canonical_json
from ledger_service.crypto import sm2
from ledger_service.digests import sm3

FORMAT = "qledger-customer-pack/1"


def document(report: Report, customer: str) -> dict[str, Any]:
    """The pack's content: the VSME datapoints with their values, criteria and evidence digests."""
    vsme = report.mapping.document["vsme"]
    points = []
    for point in vsme["datapoints"]:
        m = report.metrics[point["metric"]]
        criteria = report.mapping.metrics[point["metric"]]["criteria"]
        points.append({**point, "label": report.mapping.metrics[point["metric"]]["label"], "value": m.value,
                       "unit": m.unit, "not_reported_because": m.note or None, "numerator": criteria["numerator"],
                       "records": len(m.evidence.record_ids), "record_ids_sm3": m.evidence.digest})  # fmt: skip
    return {
        "format": FORMAT,
        "standard": vsme["name"],
        "entity": {"name": report.entity.name, "lei": report.entity.lei},
        "customer": customer,
        "period": {"start": report.period.start.isoformat(), "end": report.period.end.isoformat(),
                   "label": report.period.label},
        "mapping_version": report.mapping.version,
        "mapping_sm3": report.mapping.digest,
        "code_version": report.code_version,
        "report_sm3": sm3(figures_document(report)).hex(),
        "datapoints": points,
    }  # fmt: skip


def sign_and_anchor(service: Any, key: sm2.PrivateKey, member: str, content: dict[str, Any]) -> dict[str, Any]:
    """The signed pack: its SM3, the member's SM2 signature over its canonical JSON, and the anchoring tx."""
    body = canonical_json(content)
    digest = sm3(body)
    receipt = service.anchor_digests(member=member, digests=[digest], kind="customer-pack")
    return {
        "pack": content,
        "sm3": digest.hex(),
        "signed_by": member,
        "public_key": key.public_key.to_bytes().hex(),
        "signature": key.sign(body).hex(),
        "anchor": {"tx_hash": "0x" + receipt.tx_hash.hex(), "block": receipt.block_number,
                   "root": merkle.root([digest]).hex()},
    }  # fmt: skip


def verify(signed: dict[str, Any], anchored: Any) -> list[str]:
    """What is wrong with a signed pack (empty: nothing): its SM3, its signature under the stated key, and
    `anchored(root)`, whether its root is on chain (e.g. `lambda root: service.root_anchored(root, member)`)."""
    faults = []
    body = canonical_json(signed["pack"])
    if sm3(body).hex() != signed["sm3"]:
        faults.append("the pack's SM3 is not the one signed")
    key = sm2.PublicKey.from_bytes(bytes.fromhex(signed["public_key"]))
    if not key.verify(body, bytes.fromhex(signed["signature"])):
        faults.append("the signature does not verify under the stated key")
    if merkle.root([bytes.fromhex(signed["sm3"])]).hex() != signed["anchor"]["root"] or not anchored(
        bytes.fromhex(signed["anchor"]["root"])
    ):
        faults.append("the pack is not anchored on chain")
    return faults


def to_json(signed: dict[str, Any]) -> bytes:
    return json.dumps(signed, indent=1, ensure_ascii=False).encode()
