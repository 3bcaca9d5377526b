"""Factories of valid raw records of every type, and a ledger context to validate them against."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger_service.records import AnchoredCertificate, SignerStanding

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CERT_ID = "c" * 64
CAL_FROM = NOW - timedelta(days=30)
CAL_UNTIL = NOW + timedelta(days=335)


@dataclass
class FakeLedger:
    """The ledger facts a record is validated against (a unit-test double of the SQL index)."""

    certificates: dict[str, AnchoredCertificate] = field(
        default_factory=lambda: {CERT_ID: AnchoredCertificate("EL-CAM-01", CAL_FROM, CAL_UNTIL)}
    )
    operators: set[tuple[str, str]] = field(default_factory=lambda: {("LAB-1", "op-alice")})
    signers: dict[tuple[str, str, bytes], SignerStanding] = field(default_factory=dict)

    def certificate(self, record_id: str) -> AnchoredCertificate | None:
        return self.certificates.get(record_id)

    def is_operator(self, lab_member_id: str, operator_id: str) -> bool:
        return (lab_member_id, operator_id) in self.operators

    def signer_standing(self, lab_member_id: str, signer: str, public_key: bytes) -> SignerStanding:
        return self.signers.get((lab_member_id, signer, public_key), SignerStanding.NOT_ENROLLED)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def envelope(kind: str, results: dict[str, Any], /, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "record_type": kind,
        "schema_version": "1",
        "title": f"{kind} report",
        "report_id": "R-2026-0001",
        "lab": {"member_id": "LAB-1", "name": "Demo Test Lab", "address": "1 Lab Road, Suzhou"},
        "activity_location": "Suzhou, CN",
        "customer": {"name": "Demo Modules Ltd", "contact": "qa@example.com"},
        "subject": {
            "description": "PV module 60-cell",
            "unambiguous_id": "MOD-000123",
            "lot": "LOT-2026-11-A",
            "product": "DM-400",
            "gtin": "06912345678901",
        },
        "method": {"standard": "IEC TS 60904-13", "edition": "2018"},
        "measured_at": _iso(NOW - timedelta(hours=2)),
        "date_issued": "2026-11-28",
        "instrument": {
            "id": "EL-CAM-01",
            "maker": "Demo Optics",
            "model": "ELC-2000",
            "serial": "SN-7781",
            "calibration": {
                "certificate_record_id": CERT_ID,
                "valid_from": _iso(CAL_FROM),
                "valid_until": _iso(CAL_UNTIL),
            },
        },
        "operator": {"id": "op-alice"},
        "checker_id": "op-bob",
        "authorized_by": {"name": "Dr. Chen", "role": "Technical manager"},
        "statement_results_relate_only_to_items": True,
        "attachments": [],
        "links": [],
        "confidentiality": "public",
        "results": results,
    }
    raw.update(overrides)
    return raw


IMAGE = {"name": "cell.png", "media_type": "image/png", "size": 1234, "sm3": "a" * 64, "sha256": "b" * 64}

RESULTS: dict[str, dict[str, Any]] = {
    "calibration_certificate": {
        "calibrated_instrument": {
            "id": "EL-CAM-01",
            "maker": "Demo Optics",
            "model": "ELC-2000",
            "serial": "SN-7781",
        },
        "points": [
            {
                "quantity": "irradiance",
                "value": 1000.0,
                "unit": "W/m2",
                "uncertainty": 12.0,
                "coverage_factor": 2,
            }
        ],
        "conditions": {"temperature_C": 23.0},
        "traceability_statement": "Traceable to SI via NIM (CIPM MRA)",
        "valid_from": _iso(CAL_FROM),
        "valid_until": _iso(CAL_UNTIL),
    },
    "el_image": {
        "module": {
            "maker": "DM",
            "model": "DM-400",
            "serial": "MOD-000123",
            "technology": "mono-PERC",
            "cells_layout": "6x10",
        },
        "test_stage": "initial",
        "capture": {
            "sensor": "Si-CCD",
            "resolution": "4096x3072",
            "exposure_s": 2.0,
            "injection_current_A": 9.5,
        },
        "processing": {
            "background_subtracted": True,
            "flat_field_corrected": True,
            "distortion_corrected": False,
        },
        "features": [{"cell": [2, 3], "kind": "crack_B", "area_pct": 4.0}],
    },
    "tensile_test": {
        "test_condition_code": "A224",
        "specimen_id": "SP-11",
        "test_piece": {"type": "flat", "original_cross_section_mm2": 20.0, "original_gauge_length_mm": 50.0},
        "values": [
            {"quantity": "Rm", "value": 512.0, "unit": "MPa"},
            {"quantity": "A", "value": 21.5, "unit": "%"},
        ],
    },
    "xrf_analysis": {
        "method": "IEC 62321-3-1",
        "instrument_type": "ED",
        "calibration_mode": "FP",
        "reference_materials": ["ERM-EC681m"],
        "sample_preparation": "as-is",
        "replicates": 3,
        "elements": [{"element": "Pb", "value": 120.0, "unit": "mg/kg", "lod": 5.0}],
        "screening_class": "BL",
    },
    "ai_inspection": {
        "model_card_id": "elpv-cnn-1",
        "model_sm3": "d" * 64,
        "input_image_sm3": "a" * 64,
        "threshold": 0.5,
        "runtime": "onnxruntime CPUExecutionProvider",
        "outputs": [{"label": "crack", "confidence": 0.91}],
        "decision": "fail",
    },
    "human_review": {
        "reviewed_record_id": "e" * 64,
        "verdict": "confirm",
        "decision": "fail",
        "reason": "crack visible",
    },
    "power_measurement": {
        "module": {
            "maker": "M",
            "model": "DM-400",
            "serial": "MOD-1",
            "technology": "mono-PERC",
            "cells_layout": "6x10",
        },
        "test_stage": "initial",
        "stc": {"irradiance_W_m2": 1000, "cell_temperature_C": 25, "spectrum": "AM1.5G"},
        "measured": {
            "irradiance_W_m2": 998.0,
            "module_temperature_C": 25.4,
            "translation": "IEC 60891:2021 procedure 1",
            "simulator_class": "AAA",
            "reference_device": "REF-IRRADIANCE",
        },
        "pmax_W": 410.0,
        "voc_V": 41.2,
        "isc_A": 12.7,
        "vmpp_V": 34.5,
        "impp_A": 11.88,
        "fill_factor": 0.7836,
    },
}


def valid_raw(kind: str, /, **overrides: Any) -> dict[str, Any]:
    """A valid raw record of type `kind`; keyword arguments replace top-level fields."""
    if kind == "el_image":
        overrides.setdefault("attachments", [dict(IMAGE)])
    return envelope(kind, copy.deepcopy(RESULTS[kind]), **overrides)
