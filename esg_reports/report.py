"""A disclosure report: the chosen frameworks' datapoints, each with its metric's value, unit and evidence."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from esg_reports import facts
from esg_reports.mapping import FRAMEWORKS, Mapping, load
from esg_reports.metrics import METRICS, Metric, Period, Scope


@dataclass(frozen=True)
class Entity:
    name: str
    lei: str  # ISO 17442 legal entity identifier: the iXBRL entity identifier


@dataclass
class Report:
    entity: Entity
    period: Period
    scope: Scope
    frameworks: list[str]
    mapping: Mapping
    metrics: dict[str, Metric]
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def disclosures(self, framework: str) -> list[dict[str, Any]]:
        """The framework's datapoints that quality metrics feed, by disclosure code."""
        by_code: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for key, spec in self.mapping.metrics.items():
            for point in spec.get(framework, []):
                by_code[point["code"]].append({"datapoint": point["datapoint"], "metric": key})
        if framework == "tcfd":
            for pillar in self.mapping.document["tcfd_pillars"]:
                if not any(code.startswith(pillar) for code in by_code):
                    by_code[pillar] = []  # named, with no quality-derived metric
        return [{"code": code, "items": items} for code, items in sorted(by_code.items())]

    def to_dict(self, ids_per_metric: int | None = None, evidence_dir: str | None = None) -> dict[str, Any]:
        """JSON-ready; `ids_per_metric` caps the record ids listed per metric (the digest covers them all, and
        `evidence_dir`, when given, names the file that lists them all)."""
        metrics = {}
        for key, m in self.metrics.items():
            count = len(m.evidence.record_ids)
            cap = count if ids_per_metric is None else min(ids_per_metric, count)
            ids = m.evidence.listing.decode().split("\n", cap)[:cap] if cap else []
            metrics[key] = {
                "label": self.mapping.metrics[key]["label"],
                "value": m.value,
                "unit": m.unit,
                "breakdown": m.breakdown,
                "note": m.note,
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
            "format": "qledger-esg-report/1",
            "entity": asdict(self.entity),
            "period": {"start": self.period.start.date().isoformat(), "end": self.period.end.date().isoformat(),
                       "label": self.period.label},
            "scope": {"members": self.scope.members, "products": self.scope.products},
            "mapping_version": self.mapping.version,
            "generated_at": self.generated_at.isoformat(),
            "frameworks": {
                fw: {**self.mapping.document["frameworks"][fw], "disclosures": self.disclosures(fw)}
                for fw in self.frameworks
            },
            "metrics": metrics,
        }  # fmt: skip


def build(
    session: Session,
    *,
    entity: Entity,
    period: Period,
    scope: Scope | None = None,
    frameworks: Sequence[str] = FRAMEWORKS,
    mapping_version: str | None = None,
) -> Report:
    """Refresh the index's facts, then compute every metric the chosen frameworks use."""
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown:
        raise ValueError(f"unknown framework(s) {', '.join(unknown)}: choose from {', '.join(FRAMEWORKS)}")
    scope = scope or Scope()
    mapping = load(mapping_version) if mapping_version else load()
    facts.refresh(session)
    needed = [k for k, spec in mapping.metrics.items() if any(spec.get(f) for f in frameworks)]
    metrics = {k: METRICS[k](session, period, scope) for k in needed}
    return Report(entity, period, scope, list(frameworks), mapping, metrics)
