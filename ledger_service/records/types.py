"""The record types and their typed results (docs/formats.md section 3, docs/domain.md section 2).

NOTE: `RECORD_TYPE_CODES` is shared with contracts/common/Types.sol and hardhat/scripts/consortium-config.ts:
append only.
"""

from __future__ import annotations

import math
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator, model_validator

from ledger_service.records.envelope import Attachment, EnvelopeBase, Model, NonEmpty, UtcDateTime

RECORD_TYPE_CODES: Final[dict[str, int]] = {
    "calibration_certificate": 1,
    "el_image": 2,
    "tensile_test": 3,
    "xrf_analysis": 4,
    "ai_inspection": 5,
    "human_review": 6,
    "power_measurement": 7,
}


# A measured value with its unit and, where stated, expanded uncertainty U at coverage factor k.
class Quantity(Model):
    quantity: NonEmpty
    value: float
    unit: NonEmpty
    uncertainty: float | None = Field(default=None, ge=0)
    coverage_factor: float | None = Field(default=None, gt=0)


# ------------------------------------------------------------------ calibration certificate (7.8.4)


# The instrument a calibration certificate is about (the device under calibration).
class CalibratedInstrument(Model):
    id: NonEmpty
    maker: NonEmpty
    model: NonEmpty
    serial: NonEmpty


# A calibration result: 7.8.4.1 a requires the uncertainty and coverage factor.
class CalibrationPoint(Quantity):
    uncertainty: float = Field(ge=0)
    coverage_factor: float = Field(gt=0)
    coverage_probability: float = Field(default=0.95, gt=0, lt=1)


class CalibrationResults(Model):
    calibrated_instrument: CalibratedInstrument
    points: list[CalibrationPoint] = Field(min_length=1)
    conditions: dict[str, float] = Field(min_length=1)  # 7.8.4.1 b, e.g. {"temperature_C": 23.1}
    traceability_statement: NonEmpty  # 7.8.4.1 c
    valid_from: UtcDateTime
    valid_until: UtcDateTime

    @model_validator(mode="after")
    def _window(self) -> CalibrationResults:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class CalibrationCertificate(EnvelopeBase):
    record_type: Literal["calibration_certificate"]
    results: CalibrationResults


# ------------------------------------------------------------------ EL image (IEC TS 60904-13)


class PvModule(Model):
    maker: NonEmpty
    model: NonEmpty
    serial: NonEmpty
    technology: NonEmpty
    cells_layout: NonEmpty


class ElCapture(Model):
    sensor: Literal["Si-CCD", "CMOS", "InGaAs"]
    resolution: NonEmpty
    exposure_s: float = Field(gt=0)
    injection_current_A: float = Field(gt=0)
    injection_voltage_V: float | None = None


class ElProcessing(Model):
    background_subtracted: bool
    flat_field_corrected: bool
    distortion_corrected: bool
    snr: float | None = Field(default=None, gt=0)


class ElFeature(Model):
    cell: tuple[int, int]
    kind: Literal["crack_A", "crack_B", "crack_C", "inactive", "finger_interrupt", "shunt", "PID", "solder"]
    area_pct: float | None = Field(default=None, ge=0, le=100)


class ElResults(Model):
    module: PvModule
    test_stage: NonEmpty  # e.g. "initial", "after TC200"
    capture: ElCapture
    processing: ElProcessing
    inactive_area_pct: float | None = Field(default=None, ge=0, le=100)
    features: list[ElFeature] = Field(default_factory=list)


class ElImage(EnvelopeBase):
    record_type: Literal["el_image"]
    results: ElResults
    # Validated when absent too: a record without the key must not pass where `[]` is refused (found by the
    # record fuzz test: the record's own canonical form, which writes `[]`, was then refused).
    attachments: list[Attachment] = Field(default_factory=list, validate_default=True)

    @field_validator("attachments")
    @classmethod
    def _has_image(cls, attachments: list[Attachment]) -> list[Attachment]:
        if not any(a.media_type.startswith("image/") for a in attachments):
            raise ValueError("an el_image record needs at least one image attachment")
        return attachments


# ------------------------------------------------------------------ tensile test (ISO 6892-1)


class TestPiece(Model):
    type: NonEmpty
    original_cross_section_mm2: float = Field(gt=0)  # S0
    original_gauge_length_mm: float = Field(gt=0)  # L0


class TensileResults(Model):
    test_condition_code: NonEmpty  # e.g. "A224" (ISO 6892-1 method A)
    specimen_id: NonEmpty
    test_piece: TestPiece
    temperature_C: float | None = None
    values: list[Quantity] = Field(min_length=1)  # ReH, ReL, Rp0.2, Rm, A, Z ... as requested


class TensileTest(EnvelopeBase):
    record_type: Literal["tensile_test"]
    results: TensileResults


# ------------------------------------------------------------------ XRF (ISO 3497, IEC 62321-3-1, ...)


class XrfElement(Model):
    element: Annotated[str, Field(pattern=r"^[A-Z][a-z]?$")]
    value: float
    unit: Literal["mass%", "mg/kg", "µm", "g/m²"]
    uncertainty: float | None = Field(default=None, ge=0)
    coverage_factor: float | None = Field(default=None, gt=0)
    lod: float | None = Field(default=None, ge=0)
    layer: int | None = None


class XrfResults(Model):
    method: Literal["ISO 3497", "IEC 62321-3-1", "ASTM E1621", "ISO 12677"]
    instrument_type: Literal["ED", "WD", "handheld"]
    calibration_mode: Literal["FP", "empirical"]
    reference_materials: list[NonEmpty] = Field(min_length=1)
    sample_preparation: Literal["as-is", "polished", "pellet", "fused bead"]
    replicates: int = Field(ge=1)
    elements: list[XrfElement] = Field(min_length=1)
    screening_class: Literal["BL", "X", "OL"] | None = None  # IEC 62321-3-1 below limit / inconclusive / over


class XrfAnalysis(EnvelopeBase):
    record_type: Literal["xrf_analysis"]
    results: XrfResults


# ------------------------------------------------------------------ AI inspection and human review


class Detection(Model):
    label: NonEmpty
    confidence: float = Field(ge=0, le=1)
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 in image pixels


class AiResults(Model):
    model_card_id: NonEmpty
    model_sm3: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    input_image_sm3: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    threshold: float = Field(ge=0, le=1)
    runtime: NonEmpty  # e.g. "onnxruntime 1.22 CPUExecutionProvider"
    outputs: list[Detection]
    decision: Literal["pass", "fail", "review"]


class AiInspection(EnvelopeBase):
    record_type: Literal["ai_inspection"]
    results: AiResults


class ReviewResults(Model):
    reviewed_record_id: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    verdict: Literal["confirm", "override"]
    decision: Literal["pass", "fail"]
    reason: NonEmpty


class HumanReview(EnvelopeBase):
    record_type: Literal["human_review"]
    results: ReviewResults


# ------------------------------------------------------------------ PV module power (IEC 60904-1, flash test)


class StcConditions(Model):
    """The standard test conditions the I-V values are stated at (IEC 60904-3 reference spectrum)."""

    irradiance_W_m2: Literal[1000]
    cell_temperature_C: Literal[25]
    spectrum: Literal["AM1.5G"]


class MeasuredConditions(Model):
    """What the simulator delivered during the flash, before translation to STC (IEC 60891)."""

    irradiance_W_m2: float = Field(gt=0)
    module_temperature_C: float
    translation: NonEmpty  # e.g. "IEC 60891:2021 procedure 1"
    simulator_class: Annotated[str, Field(pattern=r"^[ABC]{3}\+?$")]  # IEC 60904-9 spectral/uniformity/stability
    reference_device: NonEmpty  # the calibrated reference cell or module (IEC 60904-2)


class PowerResults(Model):
    module: PvModule
    test_stage: NonEmpty  # "initial" (end of line or before a sequence) or "after TC200", "after DH1000", ...
    stc: StcConditions
    measured: MeasuredConditions
    pmax_W: float = Field(gt=0)
    voc_V: float = Field(gt=0)
    isc_A: float = Field(gt=0)
    vmpp_V: float | None = Field(default=None, gt=0)
    impp_A: float | None = Field(default=None, gt=0)
    fill_factor: float = Field(gt=0, lt=1)
    pmax_uncertainty_pct: float | None = Field(default=None, ge=0)  # expanded, k = 2
    nameplate_W: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> PowerResults:
        product = self.voc_V * self.isc_A
        if not (math.isfinite(product) and math.isfinite(self.pmax_W) and product > 0):
            raise ValueError("pmax_W, voc_V and isc_A must be finite, and Voc * Isc above zero")
        ff = self.pmax_W / product
        if not math.isfinite(ff) or abs(ff - self.fill_factor) > 0.005:
            raise ValueError(f"fill_factor {self.fill_factor} differs from Pmax/(Voc*Isc) = {ff:.4f}")
        if self.vmpp_V is not None and self.impp_A is not None:
            mpp = self.vmpp_V * self.impp_A
            if not math.isfinite(mpp) or abs(mpp - self.pmax_W) > 0.01 * self.pmax_W:
                raise ValueError("vmpp_V * impp_A differs from pmax_W by more than 1 %")
        return self


class PowerMeasurement(EnvelopeBase):
    record_type: Literal["power_measurement"]
    results: PowerResults


Record = Annotated[
    CalibrationCertificate | ElImage | TensileTest | XrfAnalysis | AiInspection | HumanReview | PowerMeasurement,
    Field(discriminator="record_type"),
]
