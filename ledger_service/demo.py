"""`qledger demo`: the main job in one process with nothing else running.

A consortium (a reference body, a test lab, a calibration lab, a manufacturer, a regulator) is founded on the
chain; the reference body declares its primary standards and certifies the calibration lab's reference
standards, and the labs register instruments and anchor calibration certificates; a mixed set of records (EL
images as real PNG files, tensile and XRF reports) is validated, hashed, pinned, anchored in tiers A, B and C
and indexed; every record is verified; then a tampered attachment, an expired calibration and a revoked
record are each caught with their reason code.
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

from ledger_service import local_consortium
from ledger_service.chain import Header
from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader
from ledger_service.errors import TransactionReverted
from ledger_service.ids import instrument_key, operator_key, unix
from ledger_service.keys import KeyStore
from ledger_service.local_consortium import AGENTS, CAL, ESCROW_K, LAB, LAB_METHODS, MFR, NIM, REG
from ledger_service.records import RECORD_TYPE_CODES, RecordInvalid
from ledger_service.service import AttachmentFile, LedgerService
from ledger_service.station import Station, example_record
from ledger_service.verification import Status, is_valid

__all__ = ["AGENTS", "CAL", "ESCROW_K", "LAB", "MFR", "NIM", "REG", "Demo", "DemoReport", "run_demo"]
# The demo's certificates point at a local `qledger serve`; a real station names its service in profile.json.
DEMO_VERIFICATION_URL = "http://127.0.0.1:8080"

RECALL_LOT = "LOT-2026-RECALL"
CERTIFICATE_LANGUAGES = ["en", "zh-Hans", "vi", "th", "km"]
INSTRUMENTS = dict(LAB_METHODS)  # the test lab's instruments -> their method
OLD_CAMERA = "EL-CAM-00"  # its calibration expired a month ago
Progress = Callable[[str, int, int], None]  # (task, advance, total)


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
    """The demo's (and the tests' and benches') local consortium and its data on one LedgerService: the same
    profile and station that `qledger init` writes, plus an instrument whose calibration has expired."""

    def __init__(self, service: LedgerService, keys: KeyStore, seed: int = 2026) -> None:
        self.service = service
        self.keys = keys
        self.rng = random.Random(seed)
        self.now = datetime.fromtimestamp(service.chain.w3.eth.get_block("latest")["timestamp"], UTC)
        base = local_consortium.default_profile(DEMO_VERIFICATION_URL)
        lab = base.station(LAB)
        old = lab.instrument("EL-CAM-01").model_copy(update={"id": OLD_CAMERA, "model": OLD_CAMERA})
        stations = {**base.stations, LAB: lab.model_copy(update={"instruments": (*lab.instruments, old)})}
        self.profile = base.model_copy(update={"stations": stations})
        self.station = Station(self.profile.station(LAB), clock=lambda: self.now)
        # CAL-NIM's station, bound to its reference standards' calibrations (by NIM-CN's certificates).
        self.calibration_lab = Station(self.profile.station(CAL), clock=lambda: self.now)

    @property
    def certificates(self) -> dict[str, str]:  # instrument -> certificate record id
        return self.station.certificates

    @property
    def windows(self) -> dict[str, tuple[datetime, datetime]]:  # instrument -> calibration validity
        return self.station.windows

    def found_consortium(self, recall_confirmation: int = 0) -> Deployment:
        return local_consortium.found(self.service, self.keys, self.now, recall_confirmation)

    def configure_escrow(self) -> str:
        return local_consortium.configure_escrow(self.service, self.keys, self.profile)

    def calibrate_instruments(self) -> None:
        expired = {OLD_CAMERA: (self.now - timedelta(days=400), self.now - timedelta(days=30))}
        self.calibration_lab = local_consortium.calibrate_references(self.service, self.profile, self.now)
        calibrated = local_consortium.calibrate(
            self.service,
            self.profile,
            self.now,
            windows=expired,
            references={OLD_CAMERA: "REF-IRRADIANCE"},
            reference_station=self.calibration_lab,
        )
        self.station.certificates.update(calibrated.certificates)
        self.station.windows.update(calibrated.windows)

    def load_calibrations(self, certificates: dict[str, str]) -> None:
        """Use the calibrations of an existing consortium (from the index)."""
        self.station.load_calibrations(self.service, certificates)

    def inspection_envelope(
        self, record_type: str, results: dict[str, Any], image: str, attachments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return self.station.inspection_envelope(record_type, results, image, attachments)

    def enrol_signers(self) -> None:
        """Every operator, checker and reviewer of the stations enrolled as a signer (SM2 keys, anchored)."""
        local_consortium.enrol_signers(self.service, self.keys, self.profile)

    def record(
        self, kind: str, i: int, instrument: str | None = None, signed: bool = False
    ) -> tuple[dict[str, Any], list[AttachmentFile]]:
        """An example record of `kind`; `signed`: signed by its operator (performed) and checker (reviewed),
        who must be enrolled (`enrol_signers`)."""
        raw, files = example_record(self.station, kind, i, self.rng, instrument=instrument)
        if signed:
            raw = self.sign(self.service.with_attachments(raw, files))
        return raw, files

    def sign(self, raw: dict[str, Any], meanings: tuple[str, ...] = ("performed", "reviewed")) -> dict[str, Any]:
        """`raw` signed by the people it names for each meaning (operator: performed; checker: reviewed)."""
        from ledger_service import signatures

        who = {"performed": raw["operator"]["id"], "reviewed": raw["checker_id"]}
        return signatures.sign_with(self.keys, raw, [(who[m], m) for m in meanings], at=self.now)  # type: ignore[misc]


def run_demo(
    service: LedgerService,
    keys: KeyStore,
    count: int = 1000,
    progress: Progress | None = None,
    out_dir: Path | None = None,
) -> DemoReport:
    """Run the whole story; `progress(task, advance, total)` reports long steps; with `out_dir`, the year's
    ESRS/GRI/SASB/IFRS S2 disclosures are written there (PDF, Inline XBRL, JSON, CSV, XLSX)."""
    report = DemoReport()
    tick = progress or (lambda task, advance, total: None)
    demo = Demo(service, keys)
    t = time.perf_counter()
    report.deployment = demo.found_consortium()
    demo.calibrate_instruments()
    demo.enrol_signers()
    report.timings["consortium and calibrations"] = time.perf_counter() - t

    # Every 25 records: 13 EL images (tier B), 10 XRF analyses (tier C), 2 tensile tests (tier A), interleaved.
    kinds = [_kind(i % 25) for i in range(count)]
    t = time.perf_counter()
    ids: list[tuple[str, str, list[AttachmentFile]]] = []
    produced = []
    for i, kind in enumerate(kinds):
        raw, files = demo.record(kind, i, signed=True)
        ids.append((service.submit(raw, files, actor=LAB).record_id, kind, files))
        if kind == "el_image" and raw["results"]["test_stage"] == "initial":
            produced.append(raw)
        tick("ingest", 1, count)
    ids += flash_tests(demo, produced)
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
        from esg_reports.metrics import Inputs, Period
        from esg_reports.report import Entity, build, recalls_on_chain

        t = time.perf_counter()
        with service.sessions.begin() as session:
            disclosures = build(
                session,
                entity=Entity(**demo.profile.reporting_entity.model_dump()),
                period=Period.year(demo.now.year),
                inputs=Inputs(recalls=recalls_on_chain(service.chain), product_mass_kg=(("DM-400", 21.5),)),
            )
        report.outputs = render.write(disclosures, out_dir, ["pdf", "ixbrl", "json", "csv", "xlsx"])
        report.timings["ESRS/GRI/SASB/IFRS S2 report"] = time.perf_counter() - t

        from esg_reports import certificates

        t = time.perf_counter()
        chosen = [r for r, kind, _ in ids if kind in ("tensile_test", "xrf_analysis", "el_image")][1:4]
        issued = certificates.issue(service, chosen, CERTIFICATE_LANGUAGES, demo.profile.verification_url, keys=keys)
        for i, cert in enumerate(issued):
            path = out_dir / f"certificate-{cert.record_id[:16]}.pdf"
            path.write_bytes(cert.pdf)
            report.outputs[f"certificate {i + 1}"] = path
        report.certificates_valid = sum(certificates.is_valid(service.verify_certificate(c.pdf)) for c in issued)
        report.timings[f"certificates ({', '.join(CERTIFICATE_LANGUAGES)})"] = time.perf_counter() - t

        from esg_reports import pack

        t = time.perf_counter()
        anchor = pack.anchor_report(service, disclosures, member=MFR)
        service.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # a dev chain mines on demand
        seed = pack.sample_seed(service.chain, anchor)
        report.outputs["re-performance pack"] = pack.write_pack(
            service, disclosures, out_dir / "reperformance", anchor=anchor, seed=seed
        )
        report.timings["re-performance pack (anchored, sampled)"] = time.perf_counter() - t
        from esg_reports import customer

        signed = customer.sign_and_anchor(
            service, demo.keys.sm2(MFR), MFR, customer.document(disclosures, customer="Solar Farms GmbH")
        )
        report.outputs["customer-request pack (VSME)"] = out_dir / "customer-pack-vsme.json"
        report.outputs["customer-request pack (VSME)"].write_bytes(customer.to_json(signed))
    return report


def flash_tests(demo: Demo, produced: list[dict[str, Any]]) -> list[tuple[str, str, list[AttachmentFile]]]:
    """STC flash tests (IEC 60904-1): one at the end of line for every module first EL-imaged at stage 'initial',
    and a qualification lot of four modules flashed before and after IEC 61215 TC200 and DH1000 sequences."""
    from ledger_service.station import power_results

    service, out = demo.service, []
    for n, el in enumerate(produced):
        raw, files = demo.record("power_measurement", 3 * 10**6 + n)
        raw["subject"] = dict(el["subject"])
        raw["results"]["module"] = dict(el["results"]["module"])
        out.append((service.submit(raw, files, actor=LAB).record_id, "power_measurement", files))
    for q in range(4):
        p0 = round(demo.rng.gauss(410.0, 2.0), 2)
        for stage, loss in (("initial", 0.0), ("after TC200", 0.010 + 0.004 * q), ("after DH1000", 0.018 + 0.006 * q)):
            raw, files = demo.record("power_measurement", 4 * 10**6 + 10 * q + len(out))
            raw["subject"].update(
                unambiguous_id=f"QUAL-{q + 1:02d}", lot="LOT-QUAL-2026", condition="qualification sample"
            )
            raw["results"] = power_results(f"QUAL-{q + 1:02d}", stage, round(p0 * (1 - loss), 2))
            out.append((service.submit(raw, files, actor=LAB).record_id, "power_measurement", files))
    return out


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
        sign=lambda raw: demo.sign(raw, ("performed",)),  # the override, signed by the person who made it
    )
    service.anchor_pending()
    report.inspection = {
        "images": len(decisions),
        **{k: sum(d.decision == k for d in decisions) for k in ("pass", "fail", "review")},
        "anchored": anchored,
        "overridden by a person": int(is_valid(service.verify(review_id))),
    }


def regulators_story(demo: Demo, report: DemoReport, confidential_count: int) -> None:
    """A confidential lot is anchored, each record signed by its operator and checker; the regulator recalls it;
    two agents' releases open nothing, the third opens every record of the lot, each verified against its anchor
    (its signatures on the decrypted record and image included); a confidential record outside the lot
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
        raw = demo.sign(service.with_attachments(raw, files))  # over the image's plaintext digests
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


def _code(fragments: list[Any], name: str) -> str:
    f = next(f for f in fragments if f.name == name)
    return f.reason["code"] if f.status is not Status.VALID and f.reason else "VALID (not caught)"
