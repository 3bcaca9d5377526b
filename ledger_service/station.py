"""A member's station profile and the record envelopes built from it.

The profile is configuration, kept in the data directory as `profile.json` (written by `qledger init`, editable
by hand): per lab, the organisation, its address, who checks and authorises its reports, its instruments and
operators, its AI inspection set-up; for the data directory, the reporting entity of the disclosures, the
verification service that certificates point at, and the default escrow policy. The API (review decisions,
reports), `qledger example`, `qledger inspect` and the certificates read it; see docs/architecture.md.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger_service.errors import LedgerError
from ledger_service.images import el_cell_png
from ledger_service.index import crud
from ledger_service.service import AttachmentFile, LedgerService

PROFILE_FILE = "profile.json"
EXAMPLE_TYPES = ("el_image", "tensile_test", "xrf_analysis", "power_measurement")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The standard an instrument's measurements follow.
class Method(_Strict):
    standard: str = Field(min_length=1)
    edition: str = Field(min_length=1)


# One instrument of a lab, as its records name it.
class InstrumentProfile(_Strict):
    id: str = Field(min_length=1)
    maker: str
    model: str
    serial: str
    method: Method


# Who authorises a lab's reports (ISO/IEC 17025 7.8.2.1 p).
class Person(_Strict):
    name: str = Field(min_length=1)
    role: str = Field(min_length=1)


# The customer named on a lab's reports unless a record says otherwise.
class Customer(_Strict):
    name: str
    contact: str


# A lab's AI inspection station: the EL camera it uses, who records decisions and who reviews them, and how
# cell images group into modules and lots.
class InspectionProfile(_Strict):
    instrument: str
    operator: str
    reviewer: str
    product: str
    description: str = "solar cell (EL image)"
    cells_per_module: int = Field(default=6, ge=1)
    cells_per_lot: int = Field(default=600, ge=1)


# One lab member's station.
class StationProfile(_Strict):
    member: str = Field(min_length=1)
    organisation: str = Field(min_length=1)
    address: str
    activity_location: str
    authoriser: Person
    checker: str = Field(min_length=1)
    operators: tuple[str, ...]
    instruments: tuple[InstrumentProfile, ...]
    customer: Customer
    inspection: InspectionProfile | None = None
    # Record types whose records this lab ingests only signed by their operator (meaning "performed"): the
    # alliance's rule for inspection records (rules.check_signatures; docs/formats.md section 2.1).
    signed_record_types: tuple[str, ...] = ()

    def instrument(self, instrument_id: str) -> InstrumentProfile:
        for instrument in self.instruments:
            if instrument.id == instrument_id:
                return instrument
        raise LedgerError(f"{self.member}'s station has no instrument {instrument_id!r} (see {PROFILE_FILE})")


# The reporting entity of the disclosures (an ISO 17442 LEI identifies it in Inline XBRL).
class EntityProfile(_Strict):
    name: str = Field(min_length=1, max_length=200)
    lei: str = Field(pattern=r"^[0-9A-Z]{18}[0-9]{2}$")


# The escrow policy `qledger init` anchors: k of the agents' shares open a confidential record.
class EscrowProfile(_Strict):
    k: int = Field(ge=1)
    agents: tuple[str, ...] = Field(min_length=1)
    regulators: tuple[str, ...] = Field(min_length=1)


# The whole profile of a data directory.
class Profile(_Strict):
    schema_version: int = 1
    stations: dict[str, StationProfile]
    reporting_entity: EntityProfile
    verification_url: str = Field(pattern=r"^https?://[^\s]{1,200}$")
    escrow: EscrowProfile | None = None

    def signed_record_types(self, member: str) -> frozenset[str]:
        """The record types `member`'s station requires operator signatures on (none without a station)."""
        station = self.stations.get(member)
        return frozenset(station.signed_record_types) if station else frozenset()

    def station(self, member: str) -> StationProfile:
        try:
            return self.stations[member]
        except KeyError:
            raise StationMissing(f"no station profile for {member} in {PROFILE_FILE}") from None


class ProfileInvalid(LedgerError):
    """The profile file exists but does not parse or validate."""


class StationMissing(LedgerError):
    """A member has no station in the profile (it records nothing through a station of this service)."""


def load_profile(data_dir: Path) -> Profile | None:
    """The data directory's profile; None when there is none yet."""
    path = data_dir / PROFILE_FILE
    if not path.exists():
        return None
    try:
        return Profile.model_validate_json(path.read_bytes())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(profile)"
        raise ProfileInvalid(f"{path}: {where}: {first['msg']}") from None


def save_profile(data_dir: Path, profile: Profile) -> Path:
    """Write the profile (0600: it names people)."""
    path = data_dir / PROFILE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(profile.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    return path


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Station:
    """A lab's station bound to its instruments' anchored calibrations: builds complete record envelopes."""

    profile: StationProfile
    certificates: dict[str, str] = field(default_factory=dict)  # instrument -> calibration certificate id
    windows: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)  # instrument -> validity
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def load_calibrations(self, service: LedgerService, certificates: Mapping[str, str]) -> Station:
        """Use the calibrations whose certificates are in the index (instrument -> certificate record id)."""
        with service.sessions() as session:
            for instrument, certificate in certificates.items():
                row = crud.get_certificate(session=session, record_id=certificate)
                if row is not None:
                    self.certificates[instrument] = certificate
                    self.windows[instrument] = (crud.as_utc(row.valid_from), crud.as_utc(row.valid_until))
        return self

    def calibration(self, instrument: str) -> tuple[str, tuple[datetime, datetime]]:
        if instrument not in self.certificates:
            raise LedgerError(f"instrument {instrument} has no anchored calibration certificate in this index")
        return self.certificates[instrument], self.windows[instrument]

    def envelope(
        self,
        record_type: str,
        *,
        instrument: str,
        measured_at: datetime,
        operator: str,
        results: dict[str, Any],
        report_id: str,
        subject: dict[str, Any],
        attachments: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A complete record of this lab: lab, customer, instrument and its calibration, checker, authoriser."""
        p = self.profile
        kit = p.instrument(instrument)
        certificate, (valid_from, valid_until) = self.calibration(instrument)
        return {
            "record_type": record_type,
            "title": f"{record_type.replace('_', ' ')} report",
            "report_id": report_id,
            "lab": {"member_id": p.member, "name": p.organisation, "address": p.address},
            "activity_location": p.activity_location,
            "customer": p.customer.model_dump(),
            "subject": subject,
            "method": kit.method.model_dump(),
            "measured_at": iso(measured_at),
            "date_issued": measured_at.astimezone(UTC).date().isoformat(),
            "instrument": {
                "id": kit.id,
                "maker": kit.maker,
                "model": kit.model,
                "serial": kit.serial,
                "calibration": {
                    "certificate_record_id": certificate,
                    "valid_from": iso(valid_from),
                    "valid_until": iso(valid_until),
                },
            },
            "operator": {"id": operator},
            "checker_id": p.checker,
            "authorized_by": p.authoriser.model_dump(),
            "statement_results_relate_only_to_items": True,
            "attachments": list(attachments),
            "results": results,
        }

    def inspection_envelope(
        self, record_type: str, results: dict[str, Any], image: str, attachments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The AI inspection station's record (ai_inspection, or a person's human_review) for the cell image
        `image` (e.g. cell0042), measured with the station's calibrated EL camera."""
        setup = self.profile.inspection
        if setup is None:
            raise StationMissing(f"{self.profile.member}'s station has no inspection set-up in {PROFILE_FILE}")
        number = int("".join(c for c in image if c.isdigit()) or 0)
        module = f"MOD-{number // setup.cells_per_module:05d}"
        measured_at = self.clock() - timedelta(minutes=1)
        return self.envelope(
            record_type,
            instrument=setup.instrument,
            measured_at=measured_at,
            operator=setup.operator if record_type == "ai_inspection" else setup.reviewer,
            results=results,
            report_id=f"R-{record_type[:2].upper()}-{measured_at:%Y%m%d%H%M%S}-{number:06d}",
            subject={
                "description": setup.description,
                "unambiguous_id": f"{module}/{image}",
                "lot": f"LOT-EL-{number // setup.cells_per_lot:03d}",
                "product": setup.product,
            },
            attachments=attachments,
        )


def example_record(
    station: Station,
    record_type: str,
    n: int,
    rng: random.Random,
    *,
    instrument: str | None = None,
    measured_at: datetime | None = None,
    lot: str = "LOT-2026-11-A",
) -> tuple[dict[str, Any], list[AttachmentFile]]:
    """A valid example record of `record_type` from the station (an EL image comes with its PNG): what
    `qledger example` writes, and what the demo and the benches ingest."""
    if record_type not in EXAMPLE_TYPES:
        raise LedgerError(f"record type must be one of {', '.join(EXAMPLE_TYPES)}")
    defaults = {"el_image": "EL-CAM-01", "tensile_test": "TENSILE-01", "xrf_analysis": "XRF-01",
                "power_measurement": "FLASH-01"}  # fmt: skip
    instrument = instrument or _instrument_for(station.profile, record_type, defaults[record_type])
    measured = measured_at or station.clock() - timedelta(minutes=rng.randint(5, 60 * 24 * 20))
    operator = rng.choice(station.profile.operators)
    files: list[AttachmentFile] = []
    results: dict[str, Any]
    if record_type == "el_image":
        cracks = rng.choice([0, 0, 0, 1, 2])
        results = {
            "module": {
                "maker": "Demo Modules",
                "model": "DM-400",
                "serial": f"MOD-{n:06d}",
                "technology": "mono-PERC",
                "cells_layout": "6x10",
            },
            "test_stage": rng.choice(["initial", "after TC200", "after DH1000"]),
            "capture": {"sensor": "Si-CCD", "resolution": "96x96", "exposure_s": 1.5, "injection_current_A": 9.8},
            "processing": {"background_subtracted": True, "flat_field_corrected": True, "distortion_corrected": True},
            "features": [{"cell": [rng.randrange(6), rng.randrange(10)], "kind": "crack_B"} for _ in range(cracks)],
        }
        files = [AttachmentFile(f"cell-{n:06d}.png", "image/png", data=el_cell_png(seed=n, size=96, cracks=cracks))]
    elif record_type == "tensile_test":
        rm = rng.gauss(520, 12)
        results = {
            "test_condition_code": "A224",
            "specimen_id": f"SP-{n:05d}",
            "test_piece": {"type": "flat", "original_cross_section_mm2": 20.0, "original_gauge_length_mm": 50.0},
            "temperature_C": 23.0,
            "values": [
                {"quantity": "Rp0.2", "value": round(rm * 0.78, 1), "unit": "MPa"},
                {"quantity": "Rm", "value": round(rm, 1), "unit": "MPa", "uncertainty": 6.0, "coverage_factor": 2},
                {"quantity": "A", "value": round(rng.gauss(22, 1.5), 1), "unit": "%"},
            ],
        }
    elif record_type == "power_measurement":
        results = power_results(f"MOD-{n:06d}", "initial", pmax=round(rng.gauss(410.0, 3.0), 2))
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
    k = rng.randrange(10**8)
    raw = station.envelope(
        record_type,
        instrument=instrument,
        measured_at=measured,
        operator=operator,
        results=results,
        report_id=f"R-{k:08d}",
        subject={"description": "60-cell PV module", "unambiguous_id": f"MOD-{k:08d}", "lot": lot, "product": "DM-400"},
    )
    return raw, files


def power_results(serial: str, stage: str, pmax: float, voc: float = 41.2, isc: float = 12.7) -> dict[str, Any]:
    """The results of a flash test (IEC 60904-1) stated at STC: the fill factor follows from Pmax, Voc, Isc."""
    return {
        "module": {"maker": "Demo Modules", "model": "DM-400", "serial": serial, "technology": "mono-PERC",
                   "cells_layout": "6x10"},
        "test_stage": stage,
        "stc": {"irradiance_W_m2": 1000, "cell_temperature_C": 25, "spectrum": "AM1.5G"},
        "measured": {"irradiance_W_m2": 998.0, "module_temperature_C": 25.4,
                     "translation": "IEC 60891:2021 procedure 1", "simulator_class": "AAA",
                     "reference_device": "REF-IRRADIANCE"},
        "pmax_W": pmax,
        "voc_V": voc,
        "isc_A": isc,
        "fill_factor": round(pmax / (voc * isc), 4),
        "pmax_uncertainty_pct": 1.6,
        "nameplate_W": 410.0,
    }  # fmt: skip


def _instrument_for(profile: StationProfile, record_type: str, preferred: str) -> str:
    """The station's instrument for an example of `record_type`: the preferred one if the station has it,
    else the first whose method suits the record type."""
    ids = [i.id for i in profile.instruments]
    if preferred in ids:
        return preferred
    prefix = {"el_image": "IEC TS 60904", "tensile_test": "ISO 6892", "xrf_analysis": "IEC 62321",
              "power_measurement": "IEC 60904-1"}[record_type]  # fmt: skip
    for instrument in profile.instruments:
        if instrument.method.standard.startswith(prefix):
            return instrument.id
    raise LedgerError(f"{profile.member}'s station has no instrument for {record_type} (see {PROFILE_FILE})")
