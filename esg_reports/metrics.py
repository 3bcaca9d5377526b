"""Disclosure metrics over the SQL index: each a small named function of (session, period, scope, inputs)
returning its value, its unit, a breakdown (scalars and table rows), the exceptions it met, and the evidence
behind it (the record ids and the anchors that prove them). What each counts is written down as its reporting
criteria in the mapping file (mappings/qledger-esg-*.json; docs/domain.md section 5): the code below implements
those criteria, and a change to either is a new mapping version.

Common rules of every metric: only records in force count (status accepted or anchored; revoked, superseded and
dead-lettered records are left out and listed as exceptions); a record belongs to the period its measured_at
falls in (cut-off: measured_at in [start, end), UTC); a unit is a qualification sample when any of its records
was measured after an IEC 61215 stress sequence, and qualification samples never count as production; an AI
decision a person overrode with a human_review record counts with the person's decision.

Run `facts.refresh` first: metrics read `record_facts`, one row of countable facts per record.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, and_, exists, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from esg_reports.facts import STRESS_STAGES
from ledger_service.chain.types import RecallView
from ledger_service.confidential import RECORDS, SCOPE_KINDS, scope_digest
from ledger_service.digests import sm3
from ledger_service.index.crud import as_utc
from ledger_service.index.models import (
    AnchorRow,
    AuditRow,
    CertificateRow,
    RecallScopeRow,
    RecordFactsRow,
    RecordRow,
    RefusalRow,
)

F = RecordFactsRow
COUNTED = ("accepted", "anchored")  # records in force; revoked, superseded, dead_letter are not
INSPECTIONS = ("el_image", "ai_inspection")  # first-pass inspection of a produced unit
PRODUCTION = ("el_image", "ai_inspection", "power_measurement")  # records made on a produced unit
ASSESSMENTS = ("xrf_analysis", "tensile_test")  # product health-and-safety assessments (GRI 416-1)
VERDICTS = ("el_image", "ai_inspection", "xrf_analysis")  # records whose failing verdict is a non-conformity
GATE2_PCT = 5.0  # IEC 61215-1 Gate 2: Pmax loss after a sequence at most 5 %


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


@dataclass(frozen=True)
class Inputs:
    """What a report needs besides the index: the recalls as RecallRegistry holds them (read from the chain),
    and the entity's master data the ledger does not hold (mass of one unit of each product, in kg)."""

    recalls: tuple[RecallView, ...] | None = None
    product_mass_kg: tuple[tuple[str, float], ...] = ()

    def mass(self, product: str | None) -> float | None:
        return dict(self.product_mass_kg).get(product or "")


@dataclass
class Metric:
    key: str
    value: float | int | None
    unit: str
    breakdown: dict[str, Any] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)
    note: str = ""  # for a figure not reported: why
    table: list[dict[str, Any]] = field(default_factory=list)  # the breakdown as rows
    exceptions: list[dict[str, Any]] = field(default_factory=list)  # {kind, record_id or unit, detail}


def _scope(scope: Scope) -> list[ColumnElement[bool]]:
    conditions = []
    if scope.members is not None:
        conditions.append(F.lab_member.in_(scope.members))
    if scope.products is not None:
        conditions.append(F.product.in_(scope.products))
    return [*conditions, *_visible(scope)]


def _visible(scope: Scope) -> list[ColumnElement[bool]]:
    """Records in force, and of those what the scope's viewer may see: public records and its own
    confidential ones."""
    # Records not in force are few (revoked, superseded, dead-lettered: the status index finds them), so the set
    # left out is computed once rather than a lookup per fact row.
    # The status is "not in COUNTED" written as three ranges, which the status index answers: a NOT IN reads the
    # whole records table, canonical JSON and all.
    low, high = sorted(COUNTED)
    status = RecordRow.status
    out_of_force = or_(status < low, and_(status > low, status < high), status > high)
    out: list[ColumnElement[bool]] = [F.record_id.not_in(select(RecordRow.id).where(out_of_force))]
    if scope.viewer is not None:
        public = exists().where(RecordRow.id == F.record_id, RecordRow.confidentiality == "public")
        out.append(or_(F.lab_member == scope.viewer, public))
    return out


AnchorKey = tuple[str, str, str | None, int, int, str]  # tx hash, tier, root, block, chain id, contract
_ANCHOR_COLUMNS = (AnchorRow.tx_hash, AnchorRow.tier, AnchorRow.root, AnchorRow.block_number, AnchorRow.chain_id,
                   AnchorRow.contract)  # fmt: skip


@dataclass
class AnchorIndex:
    """Record id -> its anchoring transaction, for the records of one period and scope: loaded once per report,
    so that every metric's evidence is a dictionary walk, not a query per thousand records."""

    of: dict[str, int]
    keys: list[AnchorKey]


# One row of the shared view (`view`): the countable facts of a record in force, as a plain tuple (the fields
# below by position), so that every metric of a report walks the same rows in memory rather than query again.
ID, TYPE, UNIT, PRODUCT, OUTCOME, SCREENING, STAGE, PMAX, CRM, REVIEWED, NOW, CALIBRATED = range(12)
FactRow = tuple[Any, ...]


@dataclass
class View:
    """The facts of a scope's records in force measured before a period's end, read in one pass ordered by
    (measured_at, record id): `rows` is the history (what "first ever" reads), `now` the period's rows; `anchors`
    the anchoring transaction of each of the period's records."""

    rows: list[FactRow]
    anchors: AnchorIndex

    @cached_property
    def now(self) -> list[FactRow]:
        return [r for r in self.rows if r[NOW]]


def _wide(session: Session, end: datetime) -> bool:
    """Whether, on SQLite, the records before `end` are over a quarter of the facts: then one pass over the table
    beats the period index (ix_record_facts_period), whose every hit is a random read of the table."""
    if session.get_bind().dialect.name != "sqlite":
        return False  # other databases plan a range by its statistics
    total = session.scalar(select(func.count()).select_from(F)) or 0
    before = session.scalar(select(func.count()).select_from(F).where(F.measured_at < end)) or 0
    return before * 4 > total


def raw_rows(session: Session, query: Any, chunk: int = 20_000) -> Iterator[tuple[Any, ...]]:
    """The rows of a query as the database driver gives them (plain tuples): no result processing per row, so
    the query must select what needs none (`type_coerce` to String or Integer; JSON as its text, see `json_of`).
    A million fact rows per report spend more in the ORM's row processing than in the database."""
    result = session.connection().execute(query)
    try:
        cursor = result.cursor
        while rows := cursor.fetchmany(chunk):
            yield from rows
    finally:
        result.close()


def json_of(value: Any) -> Any:
    """A JSON column read raw: the stored text decoded (a driver that decodes JSON itself gives the value)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def view(session: Session, period: Period, scope: Scope) -> View:
    """One pass over the scope's facts before the period's end, shared by every metric (docs/architecture.md:
    metrics are aggregates over `record_facts`); cached on the session."""
    cache: dict[Any, View] = session.info.setdefault("qledger_view", {})
    if (period, scope) in cache:
        return cache[(period, scope)]
    certificate = RecordRow.__table__.alias("certificate")
    valid = and_(CertificateRow.valid_from <= F.measured_at, F.measured_at <= CertificateRow.valid_until,
                 or_(CertificateRow.external, certificate.c.status.in_(COUNTED)))  # fmt: skip
    # A wide period on SQLite reads the table in order (coalesce hides the column from the index planner), and
    # the anchors table apart: a lookup per fact row costs more than reading it.
    wide = _wide(session, period.end)
    at = func.coalesce(F.measured_at, F.measured_at) if wide else F.measured_at
    query = (
        select(F.record_id, F.record_type, F.unit_id, F.product, F.outcome, F.screening, F.test_stage, F.pmax_w,
               type_coerce(F.crm, String()), F.reviewed_record_id, type_coerce(F.measured_at >= period.start, Integer),
               type_coerce(valid, Integer))
        .select_from(F)
        .outerjoin(CertificateRow, CertificateRow.record_id == F.calibration_id)
        .outerjoin(certificate, certificate.c.id == F.calibration_id)
        .where(at < period.end, *_scope(scope))
        .order_by(at, F.record_id)
    )  # fmt: skip
    pool: dict[Any, Any] = {}  # one object per distinct short value: a million rows share them
    rows: list[FactRow] = []
    add, share = rows.append, pool.setdefault
    for r in raw_rows(session, query):
        crm = r[8]
        add((r[0], share(r[1], r[1]), r[2], share(r[3], r[3]), share(r[4], r[4]), share(r[5], r[5]),
             share(r[6], r[6]), r[7], None if crm is None else json_of(crm), r[9], bool(r[10]),
             bool(r[11])))  # fmt: skip
    numbering: dict[AnchorKey, int] = {}
    of: dict[str, int] = {}
    if wide:
        # The whole anchors table in its own order; the period's records kept, their transactions numbered as
        # met (the numbers are only keys into `keys`). Consecutive rows mostly share a transaction (a batch is
        # inserted at once): the last key is compared before any hashing.
        # Keyed by the view's own id objects, which the metrics' lookups then find by identity.
        period_ids = {row[ID]: row[ID] for row in rows if row[NOW]}
        last: Any = None
        k = -1
        for r in raw_rows(session, select(AnchorRow.record_id, *_ANCHOR_COLUMNS)):
            rid = period_ids.get(r[0])
            if rid is not None:
                key: AnchorKey = r[1:]
                if key != last:
                    k = numbering.setdefault(key, len(numbering))
                    last = key
                of[rid] = k
        del period_ids
    else:
        for r in raw_rows(
            session,
            select(AnchorRow.record_id, *_ANCHOR_COLUMNS)
            .join(F, F.record_id == AnchorRow.record_id)
            .where(F.measured_at >= period.start, F.measured_at < period.end, *_scope(scope)),
        ):
            of[r[0]] = numbering.setdefault(r[1:], len(numbering))
    cache[(period, scope)] = View(rows, AnchorIndex(of, list(numbering)))
    return cache[(period, scope)]


def _anchor_index(session: Session, period: Period, scope: Scope) -> AnchorIndex:
    return view(session, period, scope).anchors


def evidence(session: Session, record_ids: Sequence[str], period: Period, scope: Scope) -> Evidence:
    """The anchors behind a set of records, one entry per anchoring transaction (or Merkle root)."""
    ids = list(record_ids)
    index = _anchor_index(session, period, scope)
    found = list(map(index.of.get, ids))  # each record's transaction number, None when not in the index
    numbers = Counter(found)  # in order of first use, as the anchors are listed below when blocks tie
    counts: dict[AnchorKey, int] = defaultdict(int)
    # Not a record of the period (a recall's older units) or not anchored: looked up below.
    outside = [r for r, k in zip(ids, found, strict=True) if k is None] if numbers.pop(None, 0) else []
    for k, n in numbers.items():
        if k is not None:  # popped above
            counts[index.keys[k]] += n
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


# ---------------------------------------------------------------- units: produced, inspected, qualification


@dataclass
class Unit:
    unit_id: str
    product: str
    produced_in_period: bool  # whether its first production record ever falls in the period
    first_inspection: tuple[str, str] | None = None  # (record id, effective verdict) of its first inspection
    flash: tuple[str, float] | None = None  # (record id, Pmax W) of its first STC flash test
    records: list[str] = field(default_factory=list)  # every production record of the unit


@dataclass
class Units:
    """The production units of a scope (all time up to the period's end, so that "first" means first ever),
    the overrides people made of AI decisions, and the qualification samples."""

    produced: dict[str, Unit]  # unit id -> unit, produced within the period
    qualification: set[str]
    overrides: dict[str, tuple[str, str]]  # AI record id -> (human_review record id, decision)

    def verdict(self, record_id: str, outcome: str | None) -> str | None:
        return self.overrides[record_id][1] if record_id in self.overrides else outcome


def units(session: Session, period: Period, scope: Scope) -> Units:
    cache: dict[Any, Units] = session.info.setdefault("qledger_units", {})
    if (period, scope) in cache:
        return cache[(period, scope)]
    rows = view(session, period, scope).rows  # ordered by (measured_at, record id)
    qualification = {r[UNIT] for r in rows if r[STAGE] in STRESS_STAGES}
    overrides: dict[str, tuple[str, str]] = {}
    for r in rows:
        if r[TYPE] == "human_review" and r[REVIEWED] is not None and r[OUTCOME] in ("pass", "fail"):
            overrides[r[REVIEWED]] = (r[ID], r[OUTCOME])  # the latest review counts
    every: dict[str, Unit] = {}
    for rid, kind, unit_id, product, outcome, _, stage, pmax, _, _, now, _ in rows:
        if kind not in PRODUCTION or unit_id in qualification:
            continue
        u = every.get(unit_id)
        if u is None:
            u = every[unit_id] = Unit(unit_id, product or "(none)", now)
        u.records.append(rid)
        if kind in INSPECTIONS and u.first_inspection is None and stage in (None, "initial"):
            verdict = overrides[rid][1] if rid in overrides else outcome
            u.first_inspection = (rid, verdict or "inconclusive")
        if kind == "power_measurement" and u.flash is None and stage == "initial" and pmax is not None:
            u.flash = (rid, float(pmax))
    produced = {k: u for k, u in every.items() if u.produced_in_period}
    cache[(period, scope)] = Units(produced, qualification, overrides)
    return cache[(period, scope)]


# ---------------------------------------------------------------- the metrics


def first_pass_yield(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """Units produced in the period whose first inspection ever passed, over the units produced."""
    u = units(session, period, scope)
    by_product: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    used, exceptions = [], []
    for unit in u.produced.values():
        counts = by_product[unit.product]
        counts[0] += 1
        if unit.first_inspection is None:
            counts[2] += 1
            used.append(unit.records[0])
            exceptions.append({"kind": "produced, not inspected", "unit": unit.unit_id, "record_id": unit.records[0]})
            continue
        rid, verdict = unit.first_inspection
        used.append(rid)
        if rid in u.overrides:
            used.append(u.overrides[rid][0])
        counts[1] += verdict == "pass"
    produced = sum(c[0] for c in by_product.values())
    passed = sum(c[1] for c in by_product.values())
    table = [
        {"product": p, "units_produced": n, "passed_first_time": k, "not_inspected": x, "yield": _ratio(k, n)}
        for p, (n, k, x) in sorted(by_product.items())
    ]
    return Metric(
        "first_pass_yield",
        _ratio(passed, produced),
        "pure",
        {"units_produced": produced, "passed_first_time": passed},
        evidence(session, used, period, scope),
        table=table,
        exceptions=exceptions,
    )


def non_conformities(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """Production units with at least one failing verdict in the period (qualification samples apart); cached on
    the session, since the scrap mass is computed from it (it reads no inputs)."""
    cache: dict[Any, Metric] = session.info.setdefault("qledger_non_conformities", {})
    if (period, scope) not in cache:
        cache[(period, scope)] = _non_conformities(session, period, scope)
    return cache[(period, scope)]


def _non_conformities(session: Session, period: Period, scope: Scope) -> Metric:
    u = units(session, period, scope)
    rows = [(r[ID], r[UNIT], r[PRODUCT], r[TYPE], r[OUTCOME]) for r in view(session, period, scope).now
            if r[TYPE] in VERDICTS]  # fmt: skip
    failing: dict[str, list[str]] = defaultdict(list)
    product_of: dict[str, str] = {}
    kinds: dict[str, set[str]] = defaultdict(set)
    overridden = []
    for rid, unit_id, product, kind, outcome in rows:
        if unit_id in u.qualification:
            continue
        verdict = u.verdict(rid, outcome)
        if outcome == "fail" and verdict != "fail":
            overridden.append({"kind": "AI fail overridden by a person", "record_id": rid,
                               "detail": f"human_review {u.overrides[rid][0]}"})  # fmt: skip
        if verdict == "fail":
            failing[unit_id].append(rid)
            product_of[unit_id] = product or "(none)"
            kinds[unit_id].add(kind)
            if rid in u.overrides:
                failing[unit_id].append(u.overrides[rid][0])
    by_product: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for unit_id, found in kinds.items():
        by_product[product_of[unit_id]]["units"] += 1
        for kind in found:
            by_product[product_of[unit_id]][kind] += 1
    table = [{"product": p, **{k: c.get(k, 0) for k in ("units", *VERDICTS)}} for p, c in sorted(by_product.items())]
    ids = [r for found in failing.values() for r in found]
    return Metric(
        "non_conformities",
        len(failing),
        "units",
        {"units": len(failing), "failing_records": len(ids), "qualification_samples_excluded": len(u.qualification)},
        evidence(session, ids, period, scope),
        table=table,
        exceptions=overridden,
    )


def product_categories_assessed(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """GRI 416-1: share of the product categories produced in the period whose health-and-safety impacts were
    assessed (a restricted-substance screening or a mechanical test of the category in the period)."""
    u = units(session, period, scope)
    produced = sorted({x.product for x in u.produced.values()})
    rows = [(r[ID], r[PRODUCT], r[UNIT], r[OUTCOME]) for r in view(session, period, scope).now
            if r[TYPE] in ASSESSMENTS]  # fmt: skip
    tests: dict[str, list[str]] = defaultdict(list)
    failed: dict[str, set[str]] = defaultdict(set)
    for rid, product, unit_id, outcome in rows:
        tests[product or "(none)"].append(rid)
        if outcome == "fail":
            failed[product or "(none)"].add(unit_id)
    table = [
        {"product": p, "assessed": bool(tests.get(p)), "assessments": len(tests.get(p, [])),
         "units_failing": len(failed.get(p, set()))}
        for p in produced
    ]  # fmt: skip
    assessed = sum(1 for row in table if row["assessed"])
    ids = [r for p in produced for r in tests.get(p, [])]
    return Metric(
        "product_categories_assessed",
        _ratio(assessed, len(produced)),
        "pure",
        {"categories_produced": len(produced), "categories_assessed": assessed},
        evidence(session, ids, period, scope),
        note="" if produced else "no unit produced in the period",
        table=table,
    )


def substances_of_concern(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """XRF screening of restricted substances (IEC 62321-3-1): units screened over the limit."""
    rows = [(r[ID], r[SCREENING], r[UNIT], r[PRODUCT]) for r in view(session, period, scope).now
            if r[SCREENING] is not None]  # fmt: skip
    counts = {"BL": 0, "X": 0, "OL": 0}
    over: set[str] = set()
    by_product: dict[str, dict[str, Any]] = {}
    for _, screening, unit_id, product in rows:
        key = screening or "X"
        counts[key] += 1
        row = by_product.setdefault(product or "(none)", {"BL": 0, "X": 0, "OL": 0, "units": set()})
        row[key] += 1
        if key == "OL":
            over.add(unit_id)
            row["units"].add(unit_id)
    breakdown = {"screenings": len(rows), "below_limit": counts["BL"], "inconclusive": counts["X"],
                 "over_limit": counts["OL"], "units_over_limit": len(over)}  # fmt: skip
    table = [
        {"product": p, "below_limit_BL": r["BL"], "inconclusive_X": r["X"], "over_limit_OL": r["OL"],
         "units_over_limit": len(r["units"])}
        for p, r in sorted(by_product.items())
    ]  # fmt: skip
    return Metric(
        "substances_over_limit",
        len(over),
        "units",
        breakdown,
        evidence(session, [r[0] for r in rows], period, scope),
        table=table,
    )


def critical_materials(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """EU critical raw materials (Regulation (EU) 2024/1252, Annex II) in the units produced: per product and
    element, the mean mass fraction XRF measured times the unit mass times the units produced, in kg."""
    u = units(session, period, scope)
    made: dict[str, int] = defaultdict(int)
    for unit in u.produced.values():
        made[unit.product] += 1
    rows = [(r[ID], r[PRODUCT], r[CRM]) for r in view(session, period, scope).now if r[CRM] is not None]
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _, product, crm in rows:
        for element, pct in (crm or {}).items():
            found[(product or "(none)", element)].append(float(pct))
    table, total, missing = [], 0.0, set()
    for (product, element), values in sorted(found.items()):
        mean = sum(values) / len(values)
        mass = inputs.mass(product)
        kg = None if mass is None else round(mean / 100 * mass * made.get(product, 0), 6)
        if kg is None:
            missing.add(product)
        else:
            total += kg
        table.append({"product": product, "element": element, "analyses": len(values),
                      "mean_mass_pct": round(mean, 6), "units_produced": made.get(product, 0),
                      "unit_mass_kg": mass, "estimated_kg": kg})  # fmt: skip
    note = ""
    if not table:
        note = "no XRF analysis in the period reported an Annex II critical raw material"
    elif missing:
        note = f"no unit mass given for {', '.join(sorted(missing))}: the mass of critical raw materials is not stated"
    return Metric(
        "critical_raw_materials",
        None if note else round(total, 6),
        "kg",
        {"analyses": len(rows), "elements": sorted({e for _, e in found})},
        evidence(session, [r[0] for r in rows], period, scope),
        note=note,
        table=table,
    )


def recycled_content(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """Recycled input content: no record type of this ledger carries it yet, so no figure is claimed."""
    return Metric("recycled_content", None, "percent", {}, Evidence(), "no anchored record carries recycled content")


def durability(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """IEC 61215 Gate 2: the drop in Pmax at STC after each stress sequence, against the same module's initial
    flash test; the figure is the largest mean loss of any sequence."""
    v = view(session, period, scope)
    initial: dict[str, tuple[str, float]] = {}
    for r in v.rows:  # ordered by (measured_at, record id): the first initial flash test ever
        if r[TYPE] == "power_measurement" and r[STAGE] == "initial" and r[PMAX] is not None:
            initial.setdefault(r[UNIT], (r[ID], float(r[PMAX])))
    rows = [(r[ID], r[UNIT], r[STAGE], r[PMAX]) for r in v.now
            if r[TYPE] == "power_measurement" and r[STAGE] in STRESS_STAGES]  # fmt: skip
    losses: dict[str, list[float]] = defaultdict(list)
    ids, exceptions = [], []
    for rid, unit_id, stage, pmax in rows:
        if stage is None or pmax is None:
            continue
        if unit_id not in initial:
            exceptions.append({"kind": "no initial flash test", "record_id": rid, "unit": unit_id})
            continue
        first_id, p0 = initial[unit_id]
        losses[stage].append((p0 - float(pmax)) / p0 * 100)
        ids += [first_id, rid]
    table: list[dict[str, Any]] = [
        {"sequence": s, "modules": len(v), "mean_pmax_loss_pct": round(sum(v) / len(v), 4),
         "max_pmax_loss_pct": round(max(v), 4), "modules_over_5_pct": sum(x > GATE2_PCT for x in v)}
        for s, v in sorted(losses.items())
    ]  # fmt: skip
    means: list[float] = [float(row["mean_pmax_loss_pct"]) for row in table]
    worst = max(means, default=None)
    return Metric(
        "durability_pmax_loss",
        worst,
        "percent",
        {"sequences": len(table), "modules_over_5_pct": sum(row["modules_over_5_pct"] for row in table)},
        evidence(session, sorted(set(ids)), period, scope),
        note="" if table else "no flash test after an IEC 61215 sequence in the period",
        table=table,
        exceptions=exceptions,
    )


def production_mw(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """SASB RR-ST-000.A: the STC power of the units produced in the period, from their first flash test, in MW."""
    u = units(session, period, scope)
    by_product: dict[str, list[float]] = defaultdict(list)
    ids, exceptions = [], []
    for unit in u.produced.values():
        if unit.flash is None:
            exceptions.append({"kind": "produced, no flash test", "unit": unit.unit_id, "record_id": unit.records[0]})
            continue
        ids.append(unit.flash[0])
        by_product[unit.product].append(unit.flash[1])
    table = [{"product": p, "units": len(v), "mw": round(sum(v) / 1e6, 6)} for p, v in sorted(by_product.items())]
    total = sum(sum(v) for v in by_product.values())
    return Metric(
        "production_mw",
        round(total / 1e6, 6) if ids else None,
        "MW",
        {"units_flash_tested": len(ids), "units_produced": len(u.produced)},
        evidence(session, ids, period, scope),
        note="" if ids else "no unit produced in the period has a flash test",
        table=table,
        exceptions=exceptions,
    )


def recalls(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """Recalls RecallRegistry opened in the period that cover the scope's units, and the units they cover."""
    if inputs.recalls is None:
        return Metric("recalls", None, "count", note="the recall registry on the chain was not read")
    texts: dict[int, tuple[str, str]] = {}
    for new, kind, old in session.execute(
        select(AuditRow.new_value, AuditRow.field, AuditRow.old_value).where(AuditRow.action == "recall_open")
    ):
        if new and kind and old:
            texts[int(new)] = (kind, json.loads(old))
    start, end = int(period.start.timestamp()), int(period.end.timestamp())
    table, ids, covered, exceptions = [], [], set(), []
    for view in inputs.recalls:
        if not start <= view.opened_at < end:
            continue
        kind, value = texts.get(view.recall_id, ("", None))
        match: ColumnElement[bool] | None
        if view.scope_kind == RECORDS:
            row = session.get(RecallScopeRow, view.scope.hex())
            match = F.record_id.in_(list(row.record_ids)) if row else None
            what = f"{len(row.record_ids)} records" if row else "?"
        elif (
            value is not None
            and SCOPE_KINDS.get(kind) == view.scope_kind
            and scope_digest(view.scope_kind, str(value)) == view.scope
        ):
            match = (F.lot if kind == "lot" else F.product) == str(value)
            what = f"{kind} {value}"
        else:
            match = None
        if match is None:
            exceptions.append({"kind": "recall scope unknown to the index", "recall": view.recall_id})
            continue
        rows = session.execute(select(F.record_id, F.unit_id).where(match, *_scope(scope))).all()
        if not rows:
            continue  # the recall covers nothing of the reporting scope
        units_of = {x for _, x in rows}
        table.append({"recall": view.recall_id, "scope": what, "status": ("proposed", "confirmed", "closed")[
            min(max(view.status - 1, 0), 2)], "units_covered": len(units_of), "units_retrieved": None})  # fmt: skip
        ids += [r for r, _ in rows]
        covered |= units_of
    return Metric(
        "recalls",
        len(table),
        "count",
        {"units_recalled": len(covered), "units_retrieved": None},
        evidence(session, ids, period, scope),
        table=table,
        exceptions=exceptions,
    )


def calibration_coverage(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """Share of measurements made with an instrument in calibration: its certificate still in force (not
    revoked or superseded since) and valid at the time of measurement."""
    rows = [(r[ID], r[CALIBRATED]) for r in view(session, period, scope).now
            if r[TYPE] not in ("calibration_certificate", "human_review")]  # fmt: skip
    covered, exceptions = [], []
    for rid, ok in rows:
        if ok:
            covered.append(rid)
        else:
            exceptions.append({"kind": "out of calibration", "record_id": rid})
    return Metric(
        "calibration_coverage",
        _ratio(len(covered), len(rows)),
        "pure",
        {"measurements": len(rows), "in_calibration": len(covered)},
        evidence(session, [r[0] for r in rows], period, scope),
        exceptions=exceptions,
    )


def data_completeness(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """Share of the units produced in the period that carry every production record the criteria require:
    an inspection (EL or AI) and an STC flash test. Refused submissions are exceptions, not the denominator."""
    u = units(session, period, scope)
    complete = [x for x in u.produced.values() if x.first_inspection is not None and x.flash is not None]
    exceptions = [
        {"kind": "production record missing", "unit": x.unit_id,
         "detail": ", ".join(n for n, ok in (("inspection", x.first_inspection), ("flash test", x.flash)) if not ok)}
        for x in u.produced.values() if x.first_inspection is None or x.flash is None
    ]  # fmt: skip
    refusal_filter = [RefusalRow.at >= period.start, RefusalRow.at < period.end]
    if scope.members is not None:
        refusal_filter.append(RefusalRow.actor.in_(scope.members))
    refused = session.scalar(select(func.count()).select_from(RefusalRow).where(*refusal_filter)) or 0
    if refused:
        exceptions.append({"kind": "submissions refused at ingest", "detail": str(refused)})
    ids = [r for x in complete for r in x.records]
    return Metric(
        "data_completeness",
        _ratio(len(complete), len(u.produced)),
        "pure",
        {"units_produced": len(u.produced), "units_complete": len(complete), "refused_submissions": refused},
        evidence(session, ids, period, scope),
        exceptions=exceptions,
    )


def anchoring_coverage(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """Share of the period's records in force anchored on the consortium chain."""
    ids = [r[ID] for r in view(session, period, scope).now]
    ev = evidence(session, ids, period, scope)
    index = _anchor_index(session, period, scope)
    unanchored = [{"kind": "not anchored", "record_id": r} for r in ids if r not in index.of]
    anchored = len(ids) - ev.unanchored
    return Metric(
        "anchoring_coverage",
        _ratio(anchored, len(ids)),
        "pure",
        {"records": len(ids), "anchored": anchored},
        ev,
        exceptions=unanchored,
    )


def restatements(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """GRI 2-4 / ESRS BP-2: records of the period that were revoked or superseded (every such change is a
    restatement of any figure that counted the record), with the replacement and the reason."""
    rows = session.execute(
        select(AuditRow.record_id, AuditRow.new_value, AuditRow.reason, AuditRow.at, RecordRow.superseded_by,
               RecordRow.record_type)
        .join(RecordRow, RecordRow.id == AuditRow.record_id)
        .where(AuditRow.action == "status", AuditRow.new_value.in_(("revoked", "superseded")),
               RecordRow.measured_at >= period.start, RecordRow.measured_at < period.end,
               *([RecordRow.lab_member.in_(scope.members)] if scope.members is not None else []),
               *([RecordRow.product.in_(scope.products)] if scope.products is not None else []),
               *([or_(RecordRow.lab_member == scope.viewer, RecordRow.confidentiality == "public")]
                 if scope.viewer is not None else []))
        .order_by(AuditRow.id)
    ).all()  # fmt: skip
    table = [
        {"record_id": rid, "record_type": kind, "change": change, "replacement": by if change == "superseded" else None,
         "at": as_utc(at).isoformat(), "reason": reason}
        for rid, change, reason, at, by, kind in rows
    ]  # fmt: skip
    return Metric(
        "restatements",
        len(table),
        "count",
        {"revoked": sum(r["change"] == "revoked" for r in table),
         "superseded": sum(r["change"] == "superseded" for r in table)},
        evidence(session, [str(r["record_id"]) for r in table], period, scope),
        table=table,
    )  # fmt: skip


MetricFunction = Callable[[Session, Period, Scope, Inputs], Metric]
METRICS: dict[str, MetricFunction] = {
    "first_pass_yield": first_pass_yield,
    "non_conformities": non_conformities,
    "product_categories_assessed": product_categories_assessed,
    "recalls": recalls,
    "substances_over_limit": substances_of_concern,
    "critical_raw_materials": critical_materials,
    "recycled_content": recycled_content,
    "durability_pmax_loss": durability,
    "production_mw": production_mw,
    "calibration_coverage": calibration_coverage,
    "data_completeness": data_completeness,
    "anchoring_coverage": anchoring_coverage,
    "restatements": restatements,
}


def scrap_mass(session: Session, period: Period, scope: Scope, inputs: Inputs) -> Metric:
    """ESRS E5-5 / GRI 306-3: the mass of the non-conforming production units (scrapped or reworked)."""
    nc = non_conformities(session, period, scope, inputs)
    table = [{"product": row["product"], "units": row["units"], "unit_mass_kg": inputs.mass(row["product"])}
             for row in nc.table]  # fmt: skip
    missing = sorted(row["product"] for row in table if row["unit_mass_kg"] is None)
    total = sum(row["units"] * (row["unit_mass_kg"] or 0.0) for row in table)
    note = f"no unit mass given for {', '.join(missing)}" if missing else ""
    return Metric(
        "scrap_mass_kg",
        None if missing else round(total, 6),
        "kg",
        {"units": nc.value},
        nc.evidence,
        note=note,
        table=table,
    )


METRICS["scrap_mass_kg"] = scrap_mass
