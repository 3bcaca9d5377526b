"""The local development consortium that `qledger init` founds on a local chain: a test lab (LAB-SZ) with an EL
camera, a tensile machine and an XRF analyser; a calibration lab (CAL-NIM) whose reference standards calibrate
them; a manufacturer; a regulator; five escrow agents. Its members' keys are created in the data directory and
funded from the development faucet, so it suits development chains only. The labs' stations are written to
the profile (`profile.json`), which the rest of qledger reads; see docs/architecture.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger_service.chain import Accreditation, ConsortiumSpec, Founder, Role, Web3ChainClient
from ledger_service.chain.types import Deployment
from ledger_service.confidential import EscrowPolicy
from ledger_service.digests import sm3
from ledger_service.ids import unix
from ledger_service.keys import KeyStore
from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.service import LedgerService
from ledger_service.station import (
    Customer,
    EntityProfile,
    EscrowProfile,
    InspectionProfile,
    InstrumentProfile,
    Method,
    Person,
    Profile,
    Station,
    StationProfile,
    iso,
)

LAB, CAL, MFR, REG = "LAB-SZ", "CAL-NIM", "MFR-DM", "REG-CN"
AGENTS = tuple(f"ESCROW-{i}" for i in range(1, 6))  # 3 of these 5 open a confidential record
ESCROW_K = 3
# The test lab's instruments -> the calibration lab's reference standard that calibrates each.
REFERENCES = {"EL-CAM-01": "REF-IRRADIANCE", "TENSILE-01": "REF-FORCE", "XRF-01": "REF-XRF-CRM"}
LAB_METHODS = {"EL-CAM-01": "IEC TS 60904-13", "TENSILE-01": "ISO 6892-1", "XRF-01": "IEC 62321-3-1"}
LAB_RECORD_TYPES = ("el_image", "tensile_test", "xrf_analysis", "ai_inspection", "human_review")


def _instrument(instrument_id: str, standard: str) -> InstrumentProfile:
    return InstrumentProfile(
        id=instrument_id,
        maker="Demo Instruments",
        model=instrument_id,
        serial=f"SN-{instrument_id}",
        method=Method(standard=standard, edition="2018"),
    )


def default_profile(verification_url: str = "http://127.0.0.1:8080") -> Profile:
    """The local consortium's profile: the two labs' stations, the reporting entity, the escrow policy."""
    customer = Customer(name="Demo Modules Ltd", contact="quality@demo-modules.example")
    lab = StationProfile(
        member=LAB,
        organisation=f"{LAB} laboratory",
        address="88 Science Road, Suzhou",
        activity_location="Suzhou, CN",
        authoriser=Person(name="Dr. Wei Chen", role="Technical manager"),
        checker="op-carol",
        operators=("op-alice", "op-bob"),
        instruments=tuple(_instrument(i, m) for i, m in LAB_METHODS.items()),
        customer=customer,
        inspection=InspectionProfile(
            instrument="EL-CAM-01",
            operator="op-alice",
            reviewer="op-bob",
            product="DM-400",
            description="mono-PERC solar cell (EL image)",
        ),
    )
    cal = StationProfile(
        member=CAL,
        organisation=f"{CAL} laboratory",
        address="18 Metrology Avenue, Beijing",
        activity_location="Beijing, CN",
        authoriser=Person(name="Dr. Li Na", role="Head of calibration"),
        checker="cal-tech-2",
        operators=("cal-tech-1",),
        instruments=tuple(_instrument(r, "ISO/IEC 17025") for r in REFERENCES.values()),
        customer=Customer(name=f"{LAB} laboratory", contact="calibration@lab-sz.example"),
    )
    return Profile(
        stations={LAB: lab, CAL: cal},
        reporting_entity=EntityProfile(name="Demo Modules Co.", lei="529900QLEDGERDEMO042"),
        verification_url=verification_url,
        escrow=EscrowProfile(k=ESCROW_K, agents=AGENTS, regulators=(REG,)),
    )


def found(service: LedgerService, keys: KeyStore, now: datetime, recall_confirmation: int = 0) -> Deployment:
    """Deploy the local consortium; `recall_confirmation` 0: a regulator's recall is in force at once, 1: it
    needs the member quorum. Every member's chain and SM2 keys are created (0600) in the data directory."""
    chain: Web3ChainClient = service.chain
    members = (LAB, CAL, MFR, REG, *AGENTS)
    accounts = {m: chain.add_account(keys.get_or_create(m)) for m in (*members, "deployer")}
    for address in accounts.values():
        chain.fund(address, 10**20)
    service.accounts.update(accounts)
    year = unix(now + timedelta(days=365))
    lab_types = frozenset(RECORD_TYPE_CODES[t] for t in LAB_RECORD_TYPES)
    calibration = frozenset({RECORD_TYPE_CODES["calibration_certificate"]})
    spec = ConsortiumSpec(
        founders=(
            Founder(accounts[LAB], LAB, Role.LAB, Accreditation("CNAS", "CNAS L1001", b"\x01" * 32, lab_types, year)),
            Founder(accounts[CAL], CAL, Role.LAB, Accreditation("CNAS", "CNAS L0002", b"\x02" * 32, calibration, year)),
            Founder(accounts[MFR], MFR, Role.MANUFACTURER),
            Founder(accounts[REG], REG, Role.REGULATOR | Role.AUDITOR),
            *(Founder(accounts[a], a, Role.ESCROW_AGENT) for a in AGENTS),
        ),
        recall_confirmation=recall_confirmation,
    )
    for member in members:
        keys.sm2(member)
    return chain.deploy(spec, accounts["deployer"])


def reference_certificate(reference: str) -> str:
    """SM3 of the (outside) national metrology institute's certificate of a reference standard."""
    return sm3(f"NIM certificate of {reference}".encode()).hex()


def calibrate(
    service: LedgerService,
    profile: Profile,
    now: datetime,
    windows: dict[str, tuple[datetime, datetime]] | None = None,
    references: dict[str, str] | None = None,
) -> Station:
    """Register the operators and instruments, anchor a calibration certificate from CAL-NIM for each of
    LAB-SZ's instruments (valid from 30 days ago for a year, unless `windows` says otherwise), and register
    them on chain; returns LAB-SZ's station bound to those calibrations."""
    lab, cal = profile.station(LAB), profile.station(CAL)
    references = {**REFERENCES, **(references or {})}
    for operator in lab.operators:
        service.add_operator(lab_member=LAB, operator_id=operator, actor=LAB)
    for operator in cal.operators:
        service.add_operator(lab_member=CAL, operator_id=operator, actor=CAL)
    reference_window = (now - timedelta(days=600), now + timedelta(days=400))
    reference_station = Station(cal, clock=lambda: now)
    for reference in dict.fromkeys(references.values()):
        service.register_instrument(member=CAL, instrument_id=reference, model=f"{reference} reference standard")
        service.register_reference_calibration(
            member=CAL,
            instrument_id=reference,
            certificate_sm3=reference_certificate(reference),
            valid_from=reference_window[0],
            valid_until=reference_window[1],
        )
        reference_station.certificates[reference] = reference_certificate(reference)
        reference_station.windows[reference] = reference_window
    station = Station(lab, clock=lambda: now)
    issued: dict[str, str] = {}
    # Instruments first: a certificate names its instrument's owner on chain, so the owner must be known.
    for instrument in lab.instruments:
        service.register_instrument(member=LAB, instrument_id=instrument.id, model=f"{instrument.id} master data")
    for instrument in lab.instruments:
        start, end = (windows or {}).get(instrument.id, (now - timedelta(days=30), now + timedelta(days=335)))
        reference = references[instrument.id]
        certificate = reference_station.envelope(
            "calibration_certificate",
            instrument=reference,
            measured_at=start - timedelta(hours=1),
            operator=cal.operators[0],
            report_id=f"CAL-{instrument.id}-{start:%Y%m%d}",
            subject={"description": f"{instrument.id} calibration", "unambiguous_id": instrument.serial},
            results={
                "calibrated_instrument": {
                    "id": instrument.id,
                    "maker": instrument.maker,
                    "model": instrument.model,
                    "serial": instrument.serial,
                },
                "points": [
                    {"quantity": "response", "value": 1.002, "unit": "1", "uncertainty": 0.004, "coverage_factor": 2}
                ],
                "conditions": {"temperature_C": 23.0, "humidity_pct": 45.0},
                "traceability_statement": "Traceable to SI through NIM China (CIPM MRA)",
                "valid_from": iso(start),
                "valid_until": iso(end),
            },
        )
        issued[instrument.id] = service.submit(certificate, actor=CAL).record_id
        station.windows[instrument.id] = (start, end)
    service.anchor_pending()
    for instrument_id, certificate_id in issued.items():
        service.register_calibration(member=LAB, certificate_record_id=certificate_id)
        station.certificates[instrument_id] = certificate_id
    return station


def configure_escrow(service: LedgerService, keys: KeyStore, profile: Profile) -> str:
    """Anchor the profile's escrow policy (k of the agents' shares open a record, released to its regulators)."""
    escrow = profile.escrow
    if escrow is None:
        raise ValueError("the profile names no escrow policy")
    policy = EscrowPolicy(
        k=escrow.k,
        agents=tuple((a, keys.sm2(a).public_key.to_bytes()) for a in escrow.agents),
        regulators=tuple((r, keys.sm2(r).public_key.to_bytes()) for r in escrow.regulators),
    )
    return service.configure_escrow(member=escrow.regulators[0], policy=policy)
