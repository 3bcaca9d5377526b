"""The local development consortium that `qledger init` founds on a local chain: a test lab (LAB-SZ) with an EL
camera, a tensile machine and an XRF analyser; a calibration lab (CAL-NIM) whose reference standards calibrate
them; a reference body (NIM-CN, a national metrology institute: the root of traceability) whose primary
standards calibrate CAL-NIM's reference standards; a manufacturer; a regulator; five escrow agents. Its
members' keys are created in the data directory and funded from the development faucet, so it suits
development chains only. The labs' stations are written to the profile (`profile.json`), which the rest of
qledger reads; see docs/architecture.md and, for the chain of calibrations, docs/domain.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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

LAB, CAL, MFR, REG, NIM = "LAB-SZ", "CAL-NIM", "MFR-DM", "REG-CN", "NIM-CN"
AGENTS = tuple(f"ESCROW-{i}" for i in range(1, 6))  # 3 of these 5 open a confidential record
ESCROW_K = 3
# The test lab's instruments -> the calibration lab's reference standard that calibrates each.
# FLASH-01 (the solar simulator of the flash test) is calibrated against the reference cell REF-IRRADIANCE.
REFERENCES = {"EL-CAM-01": "REF-IRRADIANCE", "TENSILE-01": "REF-FORCE", "XRF-01": "REF-XRF-CRM",
              "FLASH-01": "REF-IRRADIANCE"}  # fmt: skip
# The calibration lab's reference standards -> the reference body's primary standard that calibrates each.
PRIMARY_STANDARDS = {"REF-IRRADIANCE": "NIM-RADIOMETER", "REF-FORCE": "NIM-FORCE-MACHINE", "REF-XRF-CRM": "NIM-CRM-XRF"}
LAB_METHODS = {"EL-CAM-01": "IEC TS 60904-13", "TENSILE-01": "ISO 6892-1", "XRF-01": "IEC 62321-3-1",
               "FLASH-01": "IEC 60904-1"}  # fmt: skip
LAB_RECORD_TYPES = ("el_image", "tensile_test", "xrf_analysis", "ai_inspection", "human_review", "power_measurement")


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
        instruments=tuple(_instrument(r, "ISO/IEC 17025") for r in dict.fromkeys(REFERENCES.values())),
        customer=Customer(name=f"{LAB} laboratory", contact="calibration@lab-sz.example"),
    )
    nim = StationProfile(
        member=NIM,
        organisation="National Institute of Metrology, China",
        address="18 Beisanhuan Donglu, Beijing",
        activity_location="Beijing, CN",
        authoriser=Person(name="Dr. Zhang Wei", role="Director of calibration services"),
        checker="nim-metrologist-2",
        operators=("nim-metrologist-1",),
        instruments=tuple(_instrument(p, "SI primary realisation") for p in PRIMARY_STANDARDS.values()),
        customer=Customer(name=f"{CAL} laboratory", contact="metrology@cal-nim.example"),
    )
    return Profile(
        stations={LAB: lab, CAL: cal, NIM: nim},
        reporting_entity=EntityProfile(name="Demo Modules Co.", lei="529900QLEDGERDEMO042"),
        verification_url=verification_url,
        escrow=EscrowProfile(k=ESCROW_K, agents=AGENTS, regulators=(REG,)),
    )


def found(service: LedgerService, keys: KeyStore, now: datetime, recall_confirmation: int = 0) -> Deployment:
    """Deploy the local consortium; `recall_confirmation` 0: a regulator's recall is in force at once, 1: it
    needs the member quorum. Every member's chain and SM2 keys are created (0600) in the data directory."""
    chain: Web3ChainClient = service.chain
    members = (LAB, CAL, MFR, REG, NIM, *AGENTS)
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
            # The root of traceability: founding it with REFERENCE_BODY is the consortium's decision that its
            # primary standards need no certificate of anyone else's (docs/threat-model.md).
            Founder(
                accounts[NIM],
                NIM,
                Role.LAB | Role.REFERENCE_BODY,
                Accreditation("CNAS", "CNAS L0003", b"\x03" * 32, calibration, year),
            ),
            *(Founder(accounts[a], a, Role.ESCROW_AGENT) for a in AGENTS),
        ),
        recall_confirmation=recall_confirmation,
    )
    for member in members:
        keys.sm2(member)
    return chain.deploy(spec, accounts["deployer"])


def enrol_signers(service: LedgerService, keys: KeyStore, profile: Profile) -> dict[str, list[str]]:
    """Enrol every operator, checker and reviewer of each lab's station as an electronic signer (an SM2 key in
    the key directory, the enrolment anchored by the lab and in the audit trail; docs/formats.md section 2.1).
    Returns lab -> the people enrolled."""
    from ledger_service import signatures

    out: dict[str, list[str]] = {}
    for member, station in profile.stations.items():
        people = [*station.operators, station.checker]
        if station.inspection is not None:
            people += [station.inspection.operator, station.inspection.reviewer]
        for person in dict.fromkeys(people):
            signatures.enrol(service, keys, lab=member, signer=person, actor=member)
        out[member] = list(dict.fromkeys(people))
    return out


def primary_declaration(standard: str) -> str:
    """SM3 of the reference body's declaration of its primary standard (e.g. its CIPM MRA calibration and
    measurement capability entry): the digest its traceability root is registered under."""
    return sm3(f"NIM-CN declaration of primary standard {standard}".encode()).hex()


def _certificate(
    station: Station,
    *,
    using: str,
    calibrated: InstrumentProfile,
    window: tuple[datetime, datetime],
    report_id: str,
    traceability: str,
) -> dict[str, Any]:
    """A calibration certificate from `station`, measured with its instrument `using`, for `calibrated`."""
    start, end = window
    return station.envelope(
        "calibration_certificate",
        instrument=using,
        measured_at=start - timedelta(hours=1),
        operator=station.profile.operators[0],
        report_id=report_id,
        subject={"description": f"{calibrated.id} calibration", "unambiguous_id": calibrated.serial},
        results={
            "calibrated_instrument": {
                "id": calibrated.id,
                "maker": calibrated.maker,
                "model": calibrated.model,
                "serial": calibrated.serial,
            },
            "points": [
                {"quantity": "response", "value": 1.002, "unit": "1", "uncertainty": 0.004, "coverage_factor": 2}
            ],
            "conditions": {"temperature_C": 23.0, "humidity_pct": 45.0},
            "traceability_statement": traceability,
            "valid_from": iso(start),
            "valid_until": iso(end),
        },
    )


def calibrate_references(service: LedgerService, profile: Profile, now: datetime) -> Station:
    """The chain of traceability up to CAL-NIM's reference standards: NIM-CN, the reference body, declares its
    primary standards (a traceability root needs the REFERENCE_BODY role, which only the consortium grants)
    and certifies each of CAL-NIM's reference standards with an anchored calibration certificate, which
    CAL-NIM registers. Returns CAL-NIM's station bound to those calibrations."""
    cal = profile.station(CAL)
    # A profile written before the reference body existed has no station for it: use the default one.
    nim = profile.stations.get(NIM) or default_profile().station(NIM)
    for operator in nim.operators:
        service.add_operator(lab_member=NIM, operator_id=operator, actor=NIM)
    primary_window = (now - timedelta(days=2000), now + timedelta(days=2000))
    reference_window = (now - timedelta(days=600), now + timedelta(days=400))
    body = Station(nim, clock=lambda: now)
    for standard in nim.instruments:
        service.register_instrument(member=NIM, instrument_id=standard.id, model=f"{standard.id} primary standard")
        service.register_reference_calibration(
            member=NIM,
            instrument_id=standard.id,
            certificate_sm3=primary_declaration(standard.id),
            valid_from=primary_window[0],
            valid_until=primary_window[1],
        )
        body.certificates[standard.id] = primary_declaration(standard.id)
        body.windows[standard.id] = primary_window
    # Instruments first: a certificate names its instrument's owner on chain, so the owner must be known.
    for reference in cal.instruments:
        service.register_instrument(member=CAL, instrument_id=reference.id, model=f"{reference.id} reference standard")
    reference_station = Station(cal, clock=lambda: now)
    issued: dict[str, str] = {}
    for reference in cal.instruments:
        certificate = _certificate(
            body,
            using=PRIMARY_STANDARDS.get(reference.id, nim.instruments[0].id),
            calibrated=reference,
            window=reference_window,
            report_id=f"NIM-{reference.id}-{reference_window[0]:%Y%m%d}",
            traceability="Realises the SI unit; CIPM MRA calibration and measurement capability",
        )
        issued[reference.id] = service.submit(certificate, actor=NIM).record_id
        reference_station.windows[reference.id] = reference_window
    service.anchor_pending()
    for reference_id, certificate_id in issued.items():
        service.register_calibration(member=CAL, certificate_record_id=certificate_id)
        reference_station.certificates[reference_id] = certificate_id
    return reference_station


def calibrate(
    service: LedgerService,
    profile: Profile,
    now: datetime,
    windows: dict[str, tuple[datetime, datetime]] | None = None,
    references: dict[str, str] | None = None,
    reference_station: Station | None = None,
) -> Station:
    """Register the operators and instruments, anchor a calibration certificate from CAL-NIM for each of
    LAB-SZ's instruments (valid from 30 days ago for a year, unless `windows` says otherwise), and register
    them on chain; returns LAB-SZ's station bound to those calibrations. CAL-NIM's reference standards are
    those of `reference_station`, or calibrated first by `calibrate_references`."""
    lab, cal = profile.station(LAB), profile.station(CAL)
    references = {**REFERENCES, **(references or {})}
    for operator in lab.operators:
        service.add_operator(lab_member=LAB, operator_id=operator, actor=LAB)
    for operator in cal.operators:
        service.add_operator(lab_member=CAL, operator_id=operator, actor=CAL)
    if reference_station is None:
        reference_station = calibrate_references(service, profile, now)
    station = Station(lab, clock=lambda: now)
    issued: dict[str, str] = {}
    # Instruments first: a certificate names its instrument's owner on chain, so the owner must be known.
    for instrument in lab.instruments:
        service.register_instrument(member=LAB, instrument_id=instrument.id, model=f"{instrument.id} master data")
    for instrument in lab.instruments:
        start, end = (windows or {}).get(instrument.id, (now - timedelta(days=30), now + timedelta(days=335)))
        certificate = _certificate(
            reference_station,
            using=references[instrument.id],
            calibrated=instrument,
            window=(start, end),
            report_id=f"CAL-{instrument.id}-{start:%Y%m%d}",
            traceability="Traceable to SI through NIM China (CIPM MRA)",
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
