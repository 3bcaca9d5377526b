"""Disclosure metrics over the SQL index: each a small named function of (session, period, scope) returning
its value, its unit, a breakdown, and the evidence behind it (the record ids and the anchors that prove them).

Run `facts.refresh` first: metrics read `record_facts`, one row of countable facts per record.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from ledger_service.digests import sm3
from ledger_service.index.crud import as_utc
from ledger_service.index.models import (
    AnchorRow,
    AuditRow,
    CertificateRow,
    RecordFactsRow,
    RecordRow,
    RefusalRow,
)

F = RecordFactsRow
INSPECTIONS = ("el_image", "ai_inspection")  # first-pass inspection of a produced unit
SAFETY_TESTS = ("xrf_analysis", "tensile_test")  # restricted substances; mechanical strength
COMPLETENESS_TARGET = 0.9997


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive
    label: str

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), str(year))


@dataclass(frozen=True)
class Scope:
    """The organisational scope: some members (labs) and products, or all; seen by `viewer` (a member asking
    over the API): other members' confidential records are then left out of every figure, breakdown and
    evidence list, so a report never tells anyone that they exist (docs/threat-model.md)."""

    members: tuple[str, ...] | None = None
    products: tuple[str, ...] | None = None
    viewer: str | None = None


@dataclass
class Evidence:
    record_ids: list[str] = field(default_factory=list)
    anchors: list[dict[str, Any]] = field(default_factory=list)  # one per transaction: tier, tx, root, records
    unanchored: int = 0

    @cached_property
    def listing(self) -> bytes:
        """The sorted record ids, one per line: the evidence file an assurance provider re-hashes."""
        return "\n".join(sorted(self.record_ids)).encode()

    @cached_property
    def digest(self) -> str:
        """SM3 of `listing`."""
        return sm3(self.listing).hex()


@dataclass
class Metric:
    key: str
    value: float | int | None
    unit: str
    breakdown: dict[str, Any] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)
    note: str = ""


def _where(period: Period, scope: Scope) -> ColumnElement[bool]:
    conditions = [F.measured_at >= period.start, F.measured_at < period.end]
    if scope.members is not None:
        conditions.append(F.lab_member.in_(scope.members))
    if scope.products is not None:
        conditions.append(F.product.in_(scope.products))
    return and_(*conditions, *_visible(scope))


def _visible(scope: Scope) -> list[ColumnElement[bool]]:
    """What the scope's viewer may see: public records and its own confidential ones."""
    if scope.viewer is None:
        return []
    public = exists().where(RecordRow.id == F.record_id, RecordRow.confidentiality == "public")
    return [or_(F.lab_member == scope.viewer, public)]


AnchorKey = tuple[str, str, str | None, int, int, str]  # tx hash, tier, root, block, chain id, contract
_ANCHOR_COLUMNS = (AnchorRow.tx_hash, AnchorRow.tier, AnchorRow.root, AnchorRow.block_number, AnchorRow.chain_id,
                   AnchorRow.contract)  # fmt: skip


@dataclass
class AnchorIndex:
    """Record id -> its anchoring transaction, for the records of one period and scope: loaded once per report,
    so that every metric's evidence is a dictionary walk, not a query per thousand records."""

    of: dict[str, int]
    keys: list[AnchorKey]


def _anchor_index(session: Session, period: Period, scope: Scope) -> AnchorIndex:
    cache: dict[Any, AnchorIndex] = session.info.setdefault("qledger_anchor_index", {})
    if (period, scope) not in cache:
        numbering: dict[AnchorKey, int] = {}
        of: dict[str, int] = {}
        rows = session.execute(
            select(AnchorRow.record_id, *_ANCHOR_COLUMNS)
            .join(F, F.record_id == AnchorRow.record_id)
            .where(_where(period, scope))
        )
        for record_id, *key in rows:
            of[record_id] = numbering.setdefault(tuple(key), len(numbering))  # type: ignore[arg-type]
        cache[(period, scope)] = AnchorIndex(of, list(numbering))
    return cache[(period, scope)]


def evidence(session: Session, record_ids: Sequence[str], period: Period, scope: Scope) -> Evidence:
    """The anchors behind a set of records, one entry per anchoring transaction (or Merkle root)."""
    ids = list(record_ids)
    index = _anchor_index(session, period, scope)
    counts: dict[AnchorKey, int] = defaultdict(int)
    outside = []
    for record_id in ids:
        k = index.of.get(record_id)
        if k is None:
            outside.append(record_id)  # not a record of the period (a recall's older units) or not anchored
        else:
            counts[index.keys[k]] += 1
    for i in range(0, len(outside), 30_000):  # keep IN lists within every database's parameter limits
        rows = session.execute(
            select(*_ANCHOR_COLUMNS, func.count())
            .where(AnchorRow.record_id.in_(outside[i : i + 30_000]))
            .group_by(*_ANCHOR_COLUMNS)
        ).all()
        for *key, n in rows:
            counts[tuple(key)] += n  # type: ignore[index]
    ordered = sorted(counts.items(), key=lambda kv: (kv[0][3], kv[0][0]))  # by block, then transaction
    anchors = [
        {"tx_hash": tx, "tier": tier, "root": root, "block": block, "chain_id": chain_id, "contract": contract,
         "records": n}
        for (tx, tier, root, block, chain_id, contract), n in ordered
    ]  # fmt: skip
    return Evidence(ids, anchors, len(ids) - sum(counts.values()))


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


# ---------------------------------------------------------------- the metrics


def first_pass_yield(session: Session, period: Period, scope: Scope) -> Metric:
    """Share of units that passed their first inspection (EL or AI), by product."""
    order = func.row_number().over(partition_by=F.unit_id, order_by=F.measured_at).label("n")
    first = (
        select(F.record_id, F.product, F.outcome, order)
        .where(_where(period, scope), F.record_type.in_(INSPECTIONS), F.outcome.in_(("pass", "fail")))
        .subquery()
    )
    rows = session.execute(select(first.c.record_id, first.c.product, first.c.outcome).where(first.c.n == 1)).all()
    by_product: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, product, outcome in rows:
        counts = by_product[product or "(none)"]
        counts[0] += 1
        counts[1] += outcome == "pass"
    passed = sum(c[1] for c in by_product.values())
    breakdown = {p: {"units": u, "passed": k, "yield": _ratio(k, u)} for p, (u, k) in sorted(by_product.items())}
    return Metric(
        "first_pass_yield",
        _ratio(passed, len(rows)),
        "pure",
        breakdown,
        evidence(session, [r[0] for r in rows], period, scope),
    )


def non_conformities(session: Session, period: Period, scope: Scope) -> Metric:
    """Records whose verdict is a failure, by product and record type."""
    rows = session.execute(
        select(F.record_id, F.product, F.record_type).where(_where(period, scope), F.outcome == "fail")
    ).all()
    breakdown: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _, product, kind in rows:
        breakdown[product or "(none)"][kind] += 1
    plain = {p: dict(k) for p, k in sorted(breakdown.items())}
    return Metric("non_conformities", len(rows), "count", plain, evidence(session, [r[0] for r in rows], period, scope))


def product_safety(session: Session, period: Period, scope: Scope) -> Metric:
    """Product-safety test failures (restricted substances over limit, mechanical failures); the breakdown says
    which product categories were assessed (GRI 416-1)."""
    rows = session.execute(
        select(F.record_id, F.product, F.outcome).where(_where(period, scope), F.record_type.in_(SAFETY_TESTS))
    ).all()
    assessed: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for _, product, outcome in rows:
        assessed[product or "(none)"] += 1
        failed[product or "(none)"] += outcome == "fail"
    failures = [r[0] for r in rows if r[2] == "fail"]
    breakdown = {p: {"tests": n, "failures": failed[p]} for p, n in sorted(assessed.items())}
    return Metric(
        "product_safety_failures",
        len(failures),
        "count",
        breakdown,
        evidence(session, [r[0] for r in rows], period, scope),
    )


def recalls(session: Session, period: Period, scope: Scope) -> Metric:
    """Recalls opened in the period and the units they cover (SASB 250a.1)."""
    opened = session.execute(
        select(AuditRow.new_value, AuditRow.field, AuditRow.old_value)
        .where(AuditRow.action == "recall_open", AuditRow.at >= period.start, AuditRow.at < period.end)
        .order_by(AuditRow.id)
    ).all()
    breakdown, record_ids, units = {}, [], set()
    for recall_id, kind, scope_json in opened:
        value = json.loads(scope_json) if scope_json else None
        column = {"lot": F.lot, "product": F.product, "records": F.record_id}.get(kind or "")
        if column is None or value is None:
            continue
        match = column.in_(value) if isinstance(value, list) else column == value
        conditions = [match, *_visible(scope)] + ([F.lab_member.in_(scope.members)] if scope.members else [])
        rows = session.execute(select(F.record_id, F.unit_id).where(*conditions)).all()
        covered = {u for _, u in rows}
        breakdown[str(recall_id)] = {"scope": kind, "covers": value, "units": len(covered)}
        record_ids += [r for r, _ in rows]
        units |= covered
    metric = Metric("recalls", len(breakdown), "count", breakdown, evidence(session, record_ids, period, scope))
    metric.note = f"{len(units)} unit(s) recalled"
    metric.breakdown = {"units_recalled": len(units), "recalls": breakdown}
    return metric


def restricted_substances(session: Session, period: Period, scope: Scope) -> Metric:
    """XRF screening of restricted substances (IEC 62321-3-1): below limit, inconclusive, over limit."""
    rows = session.execute(
        select(F.record_id, F.screening).where(_where(period, scope), F.screening.is_not(None))
    ).all()
    counts = {"BL": 0, "X": 0, "OL": 0}
    for _, screening in rows:
        counts[screening or "X"] += 1
    breakdown = {"below_limit": counts["BL"], "inconclusive": counts["X"], "over_limit": counts["OL"]}
    return Metric(
        "substances_over_limit",
        counts["OL"],
        "count",
        breakdown,
        evidence(session, [r[0] for r in rows], period, scope),
    )


def critical_materials(session: Session, period: Period, scope: Scope) -> Metric:
    """Mean content of EU critical raw materials found by XRF, over the analyses that report them."""
    rows = session.execute(
        select(F.record_id, F.critical_mass_pct).where(_where(period, scope), F.critical_mass_pct.is_not(None))
    ).all()
    values = [float(r[1] or 0.0) for r in rows]
    mean = round(sum(values) / len(values), 4) if values else None
    return Metric(
        "critical_material_content",
        mean,
        "mass%",
        {"analyses": len(rows)},
        evidence(session, [r[0] for r in rows], period, scope),
    )


def recycled_content(session: Session, period: Period, scope: Scope) -> Metric:
    """Recycled input content: no record type of this ledger carries it yet, so no figure is claimed."""
    return Metric("recycled_content", None, "percent", {}, Evidence(), "no anchored record carries recycled content")


def durability(session: Session, period: Period, scope: Scope) -> Metric:
    """IEC 61215 stress-test evidence: mean EL inactive area after each stress sequence."""
    rows = session.execute(
        select(F.record_id, F.test_stage, F.degradation_pct).where(
            _where(period, scope), F.record_type == "el_image", F.degradation_pct.is_not(None)
        )
    ).all()
    stages: dict[str, list[float]] = defaultdict(list)
    for _, stage, value in rows:
        stages[stage or "(none)"].append(float(value or 0.0))
    breakdown = {
        s: {"modules": len(v), "mean_inactive_area_pct": round(sum(v) / len(v), 4)} for s, v in sorted(stages.items())
    }
    values = [v for stage in stages.values() for v in stage]
    mean = round(sum(values) / len(values), 4) if values else None
    return Metric(
        "durability_degradation", mean, "percent", breakdown, evidence(session, [r[0] for r in rows], period, scope)
    )


def calibration_coverage(session: Session, period: Period, scope: Scope) -> Metric:
    """Share of measurements made with an instrument in calibration: its certificate still in force (not
    revoked or superseded since) and valid at the time of measurement."""
    certificate = RecordRow.__table__.alias("certificate")
    rows = session.execute(
        select(F.record_id, F.measured_at, CertificateRow.valid_from, CertificateRow.valid_until,
               CertificateRow.external, certificate.c.status)
        .where(_where(period, scope), F.record_type != "calibration_certificate")
        .outerjoin(CertificateRow, CertificateRow.record_id == F.calibration_id)
        .outerjoin(certificate, certificate.c.id == F.calibration_id)
    ).all()  # fmt: skip
    covered = [
        r[0]
        for r in rows
        if r[2] is not None
        and as_utc(r[2]) <= as_utc(r[1]) <= as_utc(r[3])
        and (r[4] or r[5] in ("anchored", "accepted"))
    ]
    breakdown = {"measurements": len(rows), "in_calibration": len(covered)}
    return Metric(
        "calibration_coverage",
        _ratio(len(covered), len(rows)),
        "pure",
        breakdown,
        evidence(session, [r[0] for r in rows], period, scope),
    )


def data_completeness(session: Session, period: Period, scope: Scope) -> Metric:
    """Share of submitted records that carried every mandatory field (refusals for missing fields count
    against it; target 99.97%)."""
    ids = [r for (r,) in session.execute(select(F.record_id).where(_where(period, scope)))]
    refusal_filter = [RefusalRow.at >= period.start, RefusalRow.at < period.end, RefusalRow.missing_mandatory]
    if scope.members is not None:
        refusal_filter.append(RefusalRow.actor.in_(scope.members))
    refused = session.scalar(select(func.count()).select_from(RefusalRow).where(*refusal_filter)) or 0
    value = _ratio(len(ids), len(ids) + refused)
    breakdown = {"complete": len(ids), "refused_missing_fields": refused, "target": COMPLETENESS_TARGET,
                 "met": value is not None and value >= COMPLETENESS_TARGET}  # fmt: skip
    return Metric("data_completeness", value, "pure", breakdown, evidence(session, ids, period, scope))


def anchoring_coverage(session: Session, period: Period, scope: Scope) -> Metric:
    """Share of the period's records anchored on the consortium chain."""
    ids = [r for (r,) in session.execute(select(F.record_id).where(_where(period, scope)))]
    ev = evidence(session, ids, period, scope)
    anchored = len(ids) - ev.unanchored
    return Metric(
        "anchoring_coverage", _ratio(anchored, len(ids)), "pure", {"records": len(ids), "anchored": anchored}, ev
    )


METRICS: dict[str, Callable[[Session, Period, Scope], Metric]] = {
    "first_pass_yield": first_pass_yield,
    "non_conformities": non_conformities,
    "product_safety_failures": product_safety,
    "recalls": recalls,
    "substances_over_limit": restricted_substances,
    "critical_material_content": critical_materials,
    "recycled_content": recycled_content,
    "durability_degradation": durability,
    "calibration_coverage": calibration_coverage,
    "data_completeness": data_completeness,
    "anchoring_coverage": anchoring_coverage,
}
