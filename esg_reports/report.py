"""A disclosure report: every metric with its written reporting criteria, value, comparative, breakdown table,
exceptions and evidence; the chosen frameworks' homes for them; and the basis of preparation (docs/domain.md
section 5)."""

from __future__ import annotations

import gc
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from esg_reports import facts
from esg_reports.mapping import FRAMEWORKS, Mapping, load
from esg_reports.metrics import METRICS, AnchorIndex, Inputs, Metric, Period, Scope, _anchor_index

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Entity:
    name: str
    lei: str  # ISO 17442 legal entity identifier: the iXBRL entity identifier
    sasb_industry: str = "RR-ST"  # SICS industry: RR-ST solar modules, RT-EE electrical equipment


def code_version() -> str:
    """The git commit of the code that computed the figures, or the package version outside a checkout."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"qledger {version('qledger')}"
    except PackageNotFoundError:
        return "unknown"


def prior(period: Period) -> Period:
    """The comparative period: the same length, just before."""
    length = period.end - period.start
    label = str(int(period.label) - 1) if period.label.isdigit() else f"before {period.label}"
    return Period(period.start - length, period.start, label)


@dataclass
class Report:
    entity: Entity
    period: Period
    scope: Scope
    frameworks: list[str]
    mapping: Mapping
    metrics: dict[str, Metric]
    comparatives: dict[str, Metric] = field(default_factory=dict)
    inputs: Inputs = field(default_factory=Inputs)
    esrs_edition: str = "set1"
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    code_version: str = field(default_factory=code_version)
    anchor_index: AnchorIndex | None = None  # record id -> anchoring transaction, for the period's records

    def disclosures(self, framework: str) -> list[dict[str, Any]]:
        """The framework's rows for this entity, by disclosure code."""
        return self.mapping.homes(framework, edition=self.esrs_edition, industry=self.entity.sasb_industry)

    def exceptions(self) -> list[dict[str, Any]]:
        """The exceptions register: per metric, what its criteria left out or could not resolve."""
        return [{"metric": key, **e} for key, m in self.metrics.items() for e in m.exceptions]

    def not_evidenced(self) -> list[dict[str, Any]]:
        """The chosen frameworks' datapoints a quality ledger might be expected to evidence and does not, each
        with the reason (the mapping's `not_evidenced` rows; ESRS rows of the report's edition only)."""
        return [
            dict(row)
            for row in self.mapping.document.get("not_evidenced", [])
            if row["framework"] in self.frameworks
            and (row["framework"] != "esrs" or row.get("edition") == self.esrs_edition)
        ]

    def basis(self) -> dict[str, Any]:
        """The basis of preparation."""
        fw = self.mapping.document["frameworks"]
        previous = prior(self.period)
        return {
            "boundary": {
                "entity": self.entity.name,
                "lei": self.entity.lei,
                "members": list(self.scope.members) if self.scope.members else "every consortium member's records",
                "products": list(self.scope.products) if self.scope.products else "every product",
                "value_chain": "own operations: the test records of the members in scope on units of the products in "
                "scope; upstream only through incoming-material screenings; downstream only through recalls",
            },
            "period": {"start": self.period.start.date().isoformat(),
                       "end_exclusive": self.period.end.date().isoformat(), "label": self.period.label},
            "cut_off": self.mapping.document["common_criteria"][1],
            "common_criteria": self.mapping.document["common_criteria"],
            "uncertainty": "Counts and ratios are exact under the criteria (no sampling). Measured quantities carry "
            "the stated expanded uncertainty (k = 2) of their records: flash-test Pmax as stated in each "
            "power_measurement, XRF contents as stated per element. Estimates built from sample means (critical raw "
            "materials, scrap mass) carry the sampling uncertainty of those means, which is not quantified.",
            "comparatives": {"period": previous.label, "start": previous.start.date().isoformat(),
                             "end_exclusive": previous.end.date().isoformat(),
                             "basis": "the same criteria and mapping version applied to the prior period's records "
                             "as the index holds them now"},
            "restatements": "the 'restatements' metric lists every record of the period revoked or superseded "
            "(from the status events of the audit trail); figures above already leave those records out",
            "editions": {"esrs": fw["esrs"]["editions"][self.esrs_edition]["name"],
                         "sasb_industry": f"{self.entity.sasb_industry} "
                         f"{fw['sasb']['industries'].get(self.entity.sasb_industry, '')}"},
            "non_ledger_inputs": {"unit_mass_kg": dict(self.inputs.product_mass_kg)} if self.inputs.product_mass_kg
            else {},
            "not_reported": {k: m.note for k, m in self.metrics.items() if m.value is None},
            "not_evidenced": self.not_evidenced(),
            "sign_off": {"statement": "Management approves these quality-derived figures and their basis of "
                         "preparation.", "name": None, "role": None, "date": None, "signature": None},
        }  # fmt: skip

    def to_dict(self, ids_per_metric: int | None = None, evidence_dir: str | None = None) -> dict[str, Any]:
        """JSON-ready; `ids_per_metric` caps the record ids listed per metric (the digest covers them all, and
        `evidence_dir`, when given, names the file that lists them all)."""
        metrics = {}
        for key, m in self.metrics.items():
            count = len(m.evidence.record_ids)
            cap = count if ids_per_metric is None else min(ids_per_metric, count)
            ids = m.evidence.listing.decode().split("\n", cap)[:cap] if cap else []
            spec = self.mapping.metrics[key]
            before = self.comparatives.get(key)
            metrics[key] = {
                "label": spec["label"],
                "value": m.value,
                "unit": m.unit,
                "prior_value": before.value if before else None,
                "criteria": spec["criteria"],
                "breakdown": m.breakdown,
                "table": m.table,
                "note": m.note,
                "exceptions": len(m.exceptions),
                "evidence": {
                    "records": count,
                    "record_ids_sm3": m.evidence.digest,
                    "record_ids_file": f"{evidence_dir}/{m.evidence.digest}.txt" if evidence_dir else None,
                    "record_ids": ids,
                    "anchors": m.evidence.anchors,
                    "unanchored": m.evidence.unanchored,
                },
            }
        return {
            "format": "qledger-esg-report/2",
            "entity": asdict(self.entity),
            "period": {"start": self.period.start.date().isoformat(), "end": self.period.end.date().isoformat(),
                       "label": self.period.label},
            "scope": {"members": self.scope.members, "products": self.scope.products},
            "mapping_version": self.mapping.version,
            "mapping_sm3": self.mapping.digest,
            "code_version": self.code_version,
            "generated_at": self.generated_at.isoformat(),
            "basis_of_preparation": self.basis(),
            "frameworks": {
                fw: {"name": self.mapping.document["frameworks"][fw]["name"], "disclosures": self.disclosures(fw)}
                for fw in self.frameworks
            },
            "metrics": metrics,
            "exceptions": self.exceptions(),
        }  # fmt: skip


def build(
    session: Session,
    *,
    entity: Entity,
    period: Period,
    scope: Scope | None = None,
    frameworks: Sequence[str] = FRAMEWORKS,
    mapping_version: str | None = None,
    inputs: Inputs | None = None,
    comparatives: bool = True,
) -> Report:
    """Refresh the index's facts, then compute every metric of the mapping for the period and the prior one."""
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise ValueError(f"unknown framework(s) {', '.join(unknown)}: choose from {', '.join(FRAMEWORKS)}")
    scope = scope or Scope()
    inputs = inputs or Inputs()
    mapping = load(mapping_version) if mapping_version else load()
    if entity.sasb_industry not in mapping.document["frameworks"]["sasb"]["industries"]:
        raise ValueError(f"unknown SASB industry {entity.sasb_industry!r} in mapping {mapping.version}")
    facts.refresh(session)
    keys = [k for k in mapping.metrics if k in METRICS]
    with without_cycle_collection():
        metrics = {k: METRICS[k](session, period, scope, inputs) for k in keys}
        before = prior(period)
        previous = {k: METRICS[k](session, before, scope, inputs) for k in keys} if comparatives else {}
        anchor_index = _anchor_index(session, period, scope)
    edition = mapping.esrs_edition(period.start.year)
    report = Report(entity, period, scope, list(frameworks), mapping, metrics, previous, inputs, edition)
    report.anchor_index = anchor_index
    return report


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused: the metrics build millions of tuples (one per fact row) that hold no
    cycles, and each full collection would walk all of them again (a fifth of the time at 1,000,000 records,
    bench/RESULTS.md); restored as it was afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def recalls_on_chain(chain: Any) -> tuple[Any, ...]:
    """Every recall RecallRegistry holds (a `Web3ChainClient`'s recall_count and recall_of)."""
    return tuple(chain.recall_of(i) for i in range(1, int(chain.recall_count()) + 1))
