"""`qledger demo`: the main job in one process with nothing else running.

A consortium (a test lab, a calibration lab, a manufacturer, a regulator) is founded on the chain; the labs
register instruments and anchor calibration certificates; a mixed set of records (EL images as real PNG
files, tensile and XRF reports) is validated, hashed, pinned, anchored in tiers A, B and C and indexed; every
record is verified; then a tampered attachment, an expired calibration and a revoked record are each caught
with their reason code.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger_service.chain import Accreditation, ConsortiumSpec, Founder, Header, Role, Web3ChainClient
from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader
from ledger_service.confidential import EscrowPolicy
from ledger_service.digests import sm3
from ledger_service.errors import TransactionReverted
from ledger_service.ids import instrument_key, operator_key, unix
from ledger_service.images import el_cell_png
from ledger_service.index import crud
from ledger_service.keys import KeyStore
from ledger_service.records import RECORD_TYPE_CODES, RecordInvalid
from ledger_service.service import AttachmentFile, LedgerService
from ledger_service.verification import Status, is_valid

LAB, CAL, MFR, REG = "LAB-SZ", "CAL-NIM", "MFR-DM", "REG-CN"
AGENTS = tuple(f"ESCROW-{i}" for i in range(1, 6))  # 3 of these 5 open a confidential record
ESCROW_K = 3
RECALL_LOT = "LOT-2026-RECALL"
DEMO_LEI = "529900QLEDGERDEMO042"
CERTIFICATE_LANGUAGES = ["en", "zh-Hans", "vi", "th", "km"]  # an ISO 17442-shaped identifier for the demo manufacturer
INSTRUMENTS = {  # lab instrument -> (the calibration lab's reference standard, method)
    "EL-CAM-01": ("REF-IRRADIANCE", "IEC TS 60904-13"),
    "TENSILE-01": ("REF-FORCE", "ISO 6892-1"),
    "XRF-01": ("REF-XRF-CRM", "IEC 62321-3-1"),
}
OLD_CAMERA = "EL-CAM-00"  # its calibration expired a month ago
Progress = Callable[[str, int, int], None]  # (task, advance, total)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class DemoReport:
    records_by_tier: dict[str, int] = field(default_factory=dict)
    anchored: int = 0
    verified_valid: int = 0
    verified_total: int = 0
    cases: list[tuple[str, str, str]] = field(default_factory=list)  # (case, where caught, reason code)
    timings: dict[str, float] = field(default_factory=dict)
    deployment: Deployment | None = None
    recall: dict[str, int] = field(default_factory=dict)  # the regulator's story, in numbers
    inspection: dict[str, int] = field(default_factory=dict)  # AI inspection of real EL images, in numbers
    outputs: dict[str, Path] = field(default_factory=dict)  # report files written
    certificates_valid: int = 0


class Demo:
    """The demo's consortium and its data on one LedgerService."""

    def __init__(self, service: LedgerService, keys: KeyStore, seed: int = 2026) -> None:
        self.service = service
        self.keys = keys
        self.rng = random.Random(seed)
        self.now = datetime.fromtimestamp(service.chain.w3.eth.get_block("latest")["timestamp"], UTC)
        self.certificates: dict[str, str] = {}  # instrument -> certificate record id
        self.windows: dict[str, tuple[datetime, datetime]] = {}  # instrument -> calibration validity

    # ------------------------------------------------------------------ set-up

    def found_consortium(self, recall_confirmation: int = 0) -> Deployment:
        """Deploy the demo consortium; `recall_confirmation` 0: a regulator's recall is in force at once, 1: it
        needs the member quorum."""
        chain: Web3ChainClient = self.service.chain
        accounts = {m: chain.add_account(self.keys.get_or_create(m)) for m in (LAB, CAL, MFR, REG, *AGENTS, "deployer")}
        for address in accounts.values():
            chain.fund(address, 10**20)
        self.service.accounts.update(accounts)
        year = unix(self.now + timedelta(days=365))
        lab_types = {
            RECORD_TYPE_CODES[t] for t in ("el_image", "tensile_test", "xrf_analysis", "ai_inspection", "human_review")
        }
        spec = ConsortiumSpec(
            founders=(
                Founder(
                    accounts[LAB],
                    LAB,
                    Role.LAB,
                    Accreditation("CNAS", "CNAS L1001", b"\x01" * 32, frozenset(lab_types), year),
                ),
                Founder(
                    accounts[CAL],
                    CAL,
                    Role.LAB,
                    Accreditation(
                        "CNAS",
                        "CNAS L0002",
                        b"\x02" * 32,
                        frozenset({RECORD_TYPE_CODES["calibration_certificate"]}),
                        year,
                    ),
                ),
                Founder(accounts[MFR], MFR, Role.MANUFACTURER),
                Founder(accounts[REG], REG, Role.REGULATOR | Role.AUDITOR),
                *(Founder(accounts[a], a, Role.ESCROW_AGENT) for a in AGENTS),
            ),
            recall_confirmation=recall_confirmation,
        )
        for member in (LAB, CAL, MFR, REG, *AGENTS):
            self.keys.sm2(member)  # every member's SM2 key, 0600 in the data directory
        return chain.deploy(spec, accounts["deployer"])

    def configure_escrow(self) -> str:
        """The consortium's escrow policy: 3 of the 5 agents' shares open a record, released to REG-CN."""
        policy = EscrowPolicy(
            k=ESCROW_K,
            agents=tuple((a, self.keys.sm2(a).public_key.to_bytes()) for a in AGENTS),
            regulators=((REG, self.keys.sm2(REG).public_key.to_bytes()),),
        )
        return self.service.configure_escrow(member=REG, policy=policy)

    def calibrate_instruments(self) -> None:
        s = self.service
        for operator in ("op-alice", "op-bob"):
            s.add_operator(lab_member=LAB, operator_id=operator, actor=LAB)
        s.add_operator(lab_member=CAL, operator_id="cal-tech-1", actor=CAL)
        windows = {name: (self.now - timedelta(days=30), self.now + timedelta(days=335)) for name in INSTRUMENTS}
        windows[OLD_CAMERA] = (self.now - timedelta(days=400), self.now - timedelta(days=30))
        for name, (reference, _) in {**INSTRUMENTS, OLD_CAMERA: INSTRUMENTS["EL-CAM-01"]}.items():
            if name != OLD_CAMERA:
                s.register_instrument(member=CAL, instrument_id=reference, model=f"{reference} reference standard")
                s.register_reference_calibration(
                    member=CAL,
                    instrument_id=reference,
                    certificate_sm3=_nmi_certificate(reference),
                    valid_from=self.now - timedelta(days=600),
                    valid_until=self.now + timedelta(days=400),
                )
            start, end = windows[name]
            self.windows[name] = (start, end)
            submitted = s.submit(self._certificate(name, reference, start, end), actor=CAL)
            self.certificates[name] = submitted.record_id
        s.anchor_pending()
        for name, cert in self.certificates.items():
            s.register_instrument(member=LAB, instrument_id=name, model=f"{name} master data")
            s.register_calibration(member=LAB, certificate_record_id=cert)

    def _certificate(self, instrument: str, reference: str, start: datetime, end: datetime) -> dict[str, Any]:
        ref_cert = _nmi_certificate(reference)
        return self._envelope(
            "calibration_certificate",
            lab=CAL,
            instrument=reference,
            certificate=ref_cert,
            window=(self.now - timedelta(days=600), self.now + timedelta(days=400)),
            measured_at=start - timedelta(hours=1),
            operator="cal-tech-1",
            results={
                "calibrated_instrument": {
                    "id": instrument,
                    "maker": "Demo",
                    "model": instrument,
                    "serial": f"SN-{instrument}",
                },
                "points": [
                    {"quantity": "response", "value": 1.002, "unit": "1", "uncertainty": 0.004, "coverage_factor": 2}
                ],
                "conditions": {"temperature_C": 23.0, "humidity_pct": 45.0},
                "traceability_statement": "Traceable to SI through NIM China (CIPM MRA)",
                "valid_from": _iso(start),
                "valid_until": _iso(end),
            },
        )

    def _envelope(
        self,
        record_type: str,
        *,
        lab: str,
        instrument: str,
        certificate: str,
        window: tuple[datetime, datetime],
        measured_at: datetime,
        operator: str,
        results: dict[str, Any],
        lot: str = "LOT-2026-11-A",
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        n = self.rng.randrange(10**8)
        return {
            "record_type": record_type,
            "title": f"{record_type.replace('_', ' ')} report",
            "report_id": f"R-{n:08d}",
            "lab": {"member_id": lab, "name": f"{lab} laboratory", "address": "88 Science Road, Suzhou"},
            "activity_location": "Suzhou, CN",
            "customer": {"name": "Demo Modules Ltd", "contact": "quality@demo-modules.example"},
            "subject": {
                "description": "60-cell PV module",
                "unambiguous_id": f"MOD-{n:08d}",
                "lot": lot,
                "product": "DM-400",
            },
            "method": {
                "standard": INSTRUMENTS.get(instrument, ("", "ISO/IEC 17025"))[1] or "ISO/IEC 17025",
                "edition": "2018",
            },
            "measured_at": _iso(measured_at),
            "date_issued": measured_at.date().isoformat(),
            "instrument": {
                "id": instrument,
                "maker": "Demo Instruments",
                "model": instrument,
                "serial": f"SN-{instrument}",
                "calibration": {
                    "certificate_record_id": certificate,
                    "valid_from": _iso(window[0]),
                    "valid_until": _iso(window[1]),
                },
            },
            "operator": {"id": operator},
            "checker_id": "op-carol",
            "authorized_by": {"name": "Dr. Wei Chen", "role": "Technical manager"},
            "statement_results_relate_only_to_items": True,
            "attachments": attachments or [],
            "results": results,
        }

    # ------------------------------------------------------------------ records

    def _window(self, instrument: str) -> tuple[datetime, datetime]:
        return self.windows[instrument]

    def inspection_envelope(
        self, record_type: str, results: dict[str, Any], image: str, attachments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """An AOI station's record (ai_inspection or human_review) for the cell image `image` (e.g. cell0042):
        measured with the calibrated EL camera, cells grouped six to a module."""
        number = int("".join(c for c in image if c.isdigit()) or 0)
        module = f"MOD-{number // 6:05d}"
        operator = "op-alice" if record_type == "ai_inspection" else "op-bob"
        raw = self._envelope(
            record_type,
            lab=LAB,
            instrument="EL-CAM-01",
            certificate=self.certificates["EL-CAM-01"],
            window=self.windows["EL-CAM-01"],
            measured_at=self.now - timedelta(minutes=1),
            operator=operator,
            results=results,
            lot=f"LOT-EL-{number // 600:03d}",
            attachments=attachments,
        )
        raw["subject"].update(description="mono-PERC solar cell (EL image)", unambiguous_id=f"{module}/{image}")
        return raw

    def load_calibrations(self, certificates: dict[str, str]) -> None:
        """Use the calibrations of an existing consortium (from the index)."""
        with self.service.sessions() as session:
            for instrument, certificate in certificates.items():
                row = crud.get_certificate(session=session, record_id=certificate)
                if row is not None:
                    start, end = crud.as_utc(row.valid_from), crud.as_utc(row.valid_until)
                    self.certificates[instrument] = certificate
                    self.windows[instrument] = (start, end)

    def record(self, kind: str, i: int, instrument: str | None = None) -> tuple[dict[str, Any], list[AttachmentFile]]:
        rng = self.rng
        measured = self.now - timedelta(minutes=rng.randint(5, 60 * 24 * 20))
        operator = rng.choice(["op-alice", "op-bob"])
        if kind == "el_image":
            instrument = instrument or "EL-CAM-01"
            cracks = rng.choice([0, 0, 0, 1, 2])
            png = el_cell_png(seed=i, size=96, cracks=cracks)
            el: dict[str, Any] = {
                "module": {
                    "maker": "Demo Modules",
                    "model": "DM-400",
                    "serial": f"MOD-{i:06d}",
                    "technology": "mono-PERC",
                    "cells_layout": "6x10",
                },
                "test_stage": rng.choice(["initial", "after TC200", "after DH1000"]),
                "capture": {"sensor": "Si-CCD", "resolution": "96x96", "exposure_s": 1.5, "injection_current_A": 9.8},
                "processing": {
                    "background_subtracted": True,
                    "flat_field_corrected": True,
                    "distortion_corrected": True,
                },
                "features": [{"cell": [rng.randrange(6), rng.randrange(10)], "kind": "crack_B"} for _ in range(cracks)],
            }
            results: dict[str, Any] = el
            files = [AttachmentFile(f"cell-{i:06d}.png", "image/png", data=png)]
        elif kind == "tensile_test":
            rm = rng.gauss(520, 12)
            results = {
                "test_condition_code": "A224",
                "specimen_id": f"SP-{i:05d}",
                "test_piece": {"type": "flat", "original_cross_section_mm2": 20.0, "original_gauge_length_mm": 50.0},
                "temperature_C": 23.0,
                "values": [
                    {"quantity": "Rp0.2", "value": round(rm * 0.78, 1), "unit": "MPa"},
                    {"quantity": "Rm", "value": round(rm, 1), "unit": "MPa", "uncertainty": 6.0, "coverage_factor": 2},
                    {"quantity": "A", "value": round(rng.gauss(22, 1.5), 1), "unit": "%"},
                ],
            }
            instrument, files = "TENSILE-01", []
        else:
            pb = max(0.0, rng.gauss(300, 350))
            results = {
                "method": "IEC 62321-3-1",
                "instrument_type": "ED",
                "calibration_mode": "FP",
                "reference_materials": ["ERM-EC681m"],
                "sample_preparation": "as-is",
                "replicates": 3,
                "elements": [
                    {"element": "Pb", "value": round(pb, 1), "unit": "mg/kg", "lod": 5.0},
                    {"element": "Cd", "value": round(max(0.0, rng.gauss(10, 15)), 1), "unit": "mg/kg", "lod": 2.0},
                ],
                "screening_class": "OL" if pb > 1000 else ("X" if pb > 700 else "BL"),
            }
            instrument, files = "XRF-01", []
        raw = self._envelope(
            kind,
            lab=LAB,
            instrument=instrument,
            certificate=self.certificates[instrument],
            window=self._window(instrument),
            measured_at=measured,
            operator=operator,
            results=results,
        )
        return raw, files


def run_demo(
    service: LedgerService,
    keys: KeyStore,
    count: int = 1000,
    progress: Progress | None = None,
    out_dir: Path | None = None,
) -> DemoReport:
    """Run the whole story; `progress(task, advance, total)` reports long steps; with `out_dir`, the year's
    ESRS/GRI/SASB/TCFD disclosures are written there (PDF, Inline XBRL, JSON)."""
    report = DemoReport()
    tick = progress or (lambda task, advance, total: None)
    demo = Demo(service, keys)
    t = time.perf_counter()
    report.deployment = demo.found_consortium()
    demo.calibrate_instruments()
    report.timings["consortium and calibrations"] = time.perf_counter() - t

    # Every 25 records: 13 EL images (tier B), 10 XRF analyses (tier C), 2 tensile tests (tier A), interleaved.
    kinds = [_kind(i % 25) for i in range(count)]
    t = time.perf_counter()
    ids: list[tuple[str, str, list[AttachmentFile]]] = []
    for i, kind in enumerate(kinds):
        raw, files = demo.record(kind, i)
        ids.append((service.submit(raw, files, actor=LAB).record_id, kind, files))
        tick("ingest", 1, count)
    report.timings["validate, hash, pin, index"] = time.perf_counter() - t
    for _, kind, _ in ids:
        tier = service.tiers[kind]
        report.records_by_tier[tier] = report.records_by_tier.get(tier, 0) + 1

    t = time.perf_counter()
    service.pin_pending()
    report.anchored = service.anchor_pending(progress=lambda n: tick("anchor", n, count))
    report.timings["anchor (tiers A, B, C)"] = time.perf_counter() - t

    t = time.perf_counter()
    reader = ChainReader(service.chain)
    for record_id, _, _ in ids:
        report.verified_valid += is_valid(service.verify(record_id, reader=reader))
        report.verified_total += 1
        tick("verify", 1, count)
    report.timings["verify every record"] = time.perf_counter() - t

    # A tampered attachment: one EL image with a single byte changed.
    record_id, _, files = next(x for x in ids if x[1] == "el_image")
    png = bytearray(files[0].data or b"")
    png[len(png) // 2] ^= 0xFF
    fragments = service.verify(record_id, {files[0].name: bytes(png)})
    report.cases.append(("tampered EL image", "verification", _code(fragments, "Sm3AttachmentHash")))

    # An expired calibration: refused by validation, and by the contract when sent around the service.
    raw, files = demo.record("el_image", 10**6, instrument=OLD_CAMERA)
    try:
        service.submit(raw, files, actor=LAB)
        report.cases.append(("expired calibration", "ingest", "ACCEPTED (wrong)"))
    except RecordInvalid as refused:
        report.cases.append(("expired calibration", "ingest", ",".join(f.code for f in refused.faults)))
    header = Header(
        record_id=b"\x42" * 32,
        instrument_id=instrument_key(OLD_CAMERA),
        calibration_digest=bytes.fromhex(demo.certificates[OLD_CAMERA]),
        operator_id=operator_key(LAB, "op-alice"),
        measured_at=unix(demo.now - timedelta(days=2)),
    )
    try:
        service.chain.anchor(service.accounts[LAB], RECORD_TYPE_CODES["el_image"], header)
        report.cases.append(("expired calibration", "contract, bypassing the service", "ACCEPTED (wrong)"))
    except TransactionReverted as refused:
        report.cases.append(
            ("expired calibration", "contract, bypassing the service", f"{refused.code} ({refused.name})")
        )

    # A revoked record: the regulator withdraws a tensile report; verification says REVOKED.
    revoked = next(r for r, kind, _ in ids if kind == "tensile_test")
    service.revoke(revoked, member=REG, reason="specimen mix-up")
    report.cases.append(("revoked tensile report", "verification", _code(service.verify(revoked), "RecordStatus")))

    t = time.perf_counter()
    regulators_story(demo, report, confidential_count=max(3, count // 50))
    report.timings["confidential lot, recall, unlock"] = time.perf_counter() - t

    t = time.perf_counter()
    inspection_story(demo, report, images=max(24, count // 20))
    report.timings["AI inspection of real EL images"] = time.perf_counter() - t

    if out_dir is not None:
        from esg_reports import render
        from esg_reports.metrics import Period
        from esg_reports.report import Entity, build

        t = time.perf_counter()
        with service.sessions.begin() as session:
            disclosures = build(session, entity=Entity("Demo Modules Co.", DEMO_LEI), period=Period.year(demo.now.year))
        report.outputs = render.write(disclosures, out_dir, ["pdf", "ixbrl", "json"])
        report.timings["ESRS/GRI/SASB/TCFD report"] = time.perf_counter() - t

        from esg_reports import certificates

        t = time.perf_counter()
        chosen = [r for r, kind, _ in ids if kind in ("tensile_test", "xrf_analysis", "el_image")][1:4]
        issued = certificates.issue(service, chosen, CERTIFICATE_LANGUAGES, "https://verify.qledger.example")
        for i, cert in enumerate(issued):
            path = out_dir / f"certificate-{cert.record_id[:16]}.pdf"
            path.write_bytes(cert.pdf)
            report.outputs[f"certificate {i + 1}"] = path
        report.certificates_valid = sum(certificates.is_valid(certificates.verify_pdf(service, c.pdf)) for c in issued)
        report.timings[f"certificates ({', '.join(CERTIFICATE_LANGUAGES)})"] = time.perf_counter() - t
    return report


def inspection_story(demo: Demo, report: DemoReport, images: int) -> None:
    """Real EL cell images (elpv-dataset) inspected by the anchored demo model: every decision an anchored
    ai_inspection record; a person overrides one decision with a linked human_review record."""
    import elpv_dataset

    from inference_bridge import pipeline, registry
    from inference_bridge.pipeline import Inspector

    service = demo.service
    card = json.loads(registry.DEMO_CARD.read_text())
    card_id = registry.register(service, card, member=LAB)
    _, card, model = registry.load(service, card_id)
    every = sorted((Path(elpv_dataset.__file__).parent / "data" / "images").glob("*.png"))
    paths = every[:: max(1, len(every) // images)][:images]  # spread: the first cells are nearly all defective
    decisions = Inspector(service, model, card_id, card, demo.inspection_envelope, actor=LAB).run(paths)
    anchored = service.anchor_pending()
    target = next((d for d in decisions if d.decision != "pass"), decisions[0])
    review_id = pipeline.review(
        service,
        target.record_id,
        verdict="override",
        decision="pass" if target.decision != "pass" else "fail",
        reason="inspected by eye: a finger interruption, not a crack",
        envelope=demo.inspection_envelope,
        actor=LAB,
    )
    service.anchor_pending()
    report.inspection = {
        "images": len(decisions),
        **{k: sum(d.decision == k for d in decisions) for k in ("pass", "fail", "review")},
        "anchored": anchored,
        "overridden by a person": int(is_valid(service.verify(review_id))),
    }


def regulators_story(demo: Demo, report: DemoReport, confidential_count: int) -> None:
    """A confidential lot is anchored; the regulator recalls it; two agents' releases open nothing, the third
    opens every record of the lot, each verified against its anchor; a confidential record outside the lot
    stays closed."""
    from consortium.agent import EscrowAgent
    from consortium.recall import decrypt_recall, open_recall

    service, keys = demo.service, demo.keys
    demo.configure_escrow()
    lot: list[str] = []
    for i in range(confidential_count + 1):
        raw, files = demo.record("el_image", 2 * 10**6 + i)
        raw["subject"]["lot"] = RECALL_LOT if i < confidential_count else "LOT-2026-KEPT"
        raw["confidentiality"] = "confidential"
        record_id = service.submit(raw, files, actor=LAB).record_id
        if i < confidential_count:
            lot.append(record_id)
    service.pin_pending()
    service.anchor_pending()
    recall_id = open_recall(service, regulator=REG, kind="lot", scope=RECALL_LOT, reason="hot spots in the field")
    agents = [EscrowAgent(service, a, keys.sm2(a)) for a in AGENTS[:ESCROW_K]]
    for agent in agents[:-1]:
        agent.run_once()
    early = decrypt_recall(service, recall_id=recall_id, regulator=REG, key=keys.sm2(REG))
    opened = "NOTHING DECRYPTED" if not early.decrypted else f"{len(early.decrypted)} decrypted (wrong)"
    report.cases.append((f"{ESCROW_K - 1} of {ESCROW_K} key-share releases", "recall unlock", opened))
    agents[-1].run_once()
    unlock = decrypt_recall(service, recall_id=recall_id, regulator=REG, key=keys.sm2(REG))
    report.recall = {
        "recall": recall_id,
        "confidential records in the lot": len(lot),
        "releases": unlock.releases,
        "decrypted": len(unlock.decrypted),
        "verified": len(unlock.verified),
        "outside the lot, decrypted": len(set(unlock.decrypted) - set(lot)),
    }


def _kind(j: int) -> str:
    if j in (11, 23):
        return "tensile_test"
    return "el_image" if j % 2 == 0 else "xrf_analysis"


def _nmi_certificate(reference: str) -> str:
    """SM3 of the (outside) national metrology institute certificate of a reference standard."""
    return sm3(f"NIM certificate of {reference}".encode()).hex()


def _code(fragments: list[Any], name: str) -> str:
    f = next(f for f in fragments if f.name == name)
    return f.reason["code"] if f.status is not Status.VALID and f.reason else "VALID (not caught)"
