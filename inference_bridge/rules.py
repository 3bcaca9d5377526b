"""Rules to actions: a small declarative file maps decisions to actions, for example "a crack above 0.8 on three
cells of one module: quarantine the lot and open a review task", "repeated failures on one instrument: flag it".
Every action taken is appended to the audit trail.

    rules:
      - name: cracked-module
        when: {decision: fail, min_confidence: 0.8, count: 3, per: module}
        then: [quarantine_lot, open_review_task]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inference_bridge.pipeline import Decision, open_review_tasks
from ledger_service.errors import LedgerError
from ledger_service.index import crud
from ledger_service.service import LedgerService

ACTIONS = ("quarantine_lot", "open_review_task", "flag_instrument")
GROUPS = ("module", "lot", "instrument")


@dataclass(frozen=True)
class Rule:
    name: str
    decision: str
    count: int
    per: str
    actions: tuple[str, ...]
    min_confidence: float = 0.0


@dataclass
class Action:
    rule: str
    action: str
    target: str  # the lot, module or instrument acted on
    record_ids: list[str] = field(default_factory=list)


def parse(document: dict[str, Any]) -> list[Rule]:
    rules = []
    for i, item in enumerate(document.get("rules", [])):
        when, then = item.get("when", {}), item.get("then", [])
        name = str(item.get("name") or f"rule-{i + 1}")
        unknown = [a for a in then if a not in ACTIONS]
        if unknown or when.get("per", "module") not in GROUPS or when.get("decision") not in ("pass", "fail", "review"):
            raise LedgerError(f"rule {name}: per is one of {GROUPS}, decision pass/fail/review, actions {ACTIONS}")
        rules.append(
            Rule(
                name,
                when["decision"],
                int(when.get("count", 1)),
                when.get("per", "module"),
                tuple(then),
                float(when.get("min_confidence", 0.0)),
            )  # fmt: skip
        )
    return rules


def load(path: str | Path) -> list[Rule]:
    return parse(yaml.safe_load(Path(path).read_text()) or {})


def _group(decision: Decision, per: str) -> str:
    if per == "module":
        return decision.unit.split("/")[0]
    return decision.lot if per == "lot" else decision.instrument


def evaluate(rules: Sequence[Rule], decisions: Sequence[Decision]) -> list[Action]:
    """The actions the rules call for over a run's decisions (pure)."""
    actions = []
    for rule in rules:
        groups: dict[str, list[Decision]] = defaultdict(list)
        for d in decisions:
            if d.decision == rule.decision and d.confidence >= rule.min_confidence:
                groups[_group(d, rule.per)].append(d)
        for key, hits in sorted(groups.items()):
            if len(hits) >= rule.count:
                ids = [d.record_id for d in hits]
                for action in rule.actions:
                    target = {"quarantine_lot": hits[0].lot, "flag_instrument": hits[0].instrument}.get(action, key)
                    actions.append(Action(rule.name, action, target, ids))
    return actions


def execute(service: LedgerService, actions: Sequence[Action], actor: str) -> None:
    """Record every action in the audit trail; review tasks go to the human-review queue."""
    with service.sessions.begin() as session:
        for a in actions:
            crud.audit(
                session=session,
                actor=actor,
                action="rule_action",
                record_id=a.record_ids[0] if a.record_ids else None,
                field=a.rule,
                new_value=f"{a.action}:{a.target}",
                reason=f"{len(a.record_ids)} decision(s): {', '.join(r[:12] for r in a.record_ids[:5])}",
            )
    open_review_tasks(
        service,
        [(r, f"rule {a.rule}") for a in actions if a.action == "open_review_task" for r in a.record_ids],
    )
