"""Reference calculator of a re-performance pack (docs/domain.md section 5): recomputes every figure of a qledger
ESG report from the pack alone, with the Python standard library only, and says whether each agrees.

    python reperform.py PACK_DIR        exit 0: every figure agrees; 1: one does not; 2: the pack is unreadable

It is written apart from the code that made the report (esg_reports.metrics), from the written criteria the
pack carries, so that an assurance provider re-performs the figures rather than re-running them. For the audit
sample it also re-derives each sampled record's values from the record's own JSON and, where the
`cryptography` package is installed, checks that the record's id is the SM3 of that JSON.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

IN_FORCE = ("accepted", "anchored")
STRESS = ("after TC200", "after DH1000", "after HF10", "after UV", "after ML")
INSPECTIONS = ("el_image", "ai_inspection")
PRODUCTION = ("el_image", "ai_inspection", "power_measurement")
ASSESSMENTS = ("xrf_analysis", "tensile_test")
VERDICTS = ("el_image", "ai_inspection", "xrf_analysis")
EL_FAILING = ("crack_B", "crack_C", "inactive")
CRM = set(
    "Sb As Al Ba Be Bi B Co Cu F Ga Ge Hf Li Mg Mn Ni Nb P Pt Pd Rh Ir Ru Os Sc Si Sr Ta Ti W V "
    "Dy Er Eu Gd Ho Lu Tb Tm Yb Y Ce La Nd Pr Sm".split()
)  # Regulation (EU) 2024/1252, Annex II, as XRF elements
TO_PCT = {"mass%": 1.0, "mg/kg": 1e-4}


def ratio(a: int, b: int) -> float | None:
    return round(a / b, 6) if b else None


class Pack:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.head = json.loads((directory / "pack.json").read_text())
        self.rows = [json.loads(line) for line in (directory / "values.jsonl").read_text().splitlines() if line]
        self.start, self.end = self.head["period"]["start"], self.head["period"]["end"]
        self.mass = dict(self.head["inputs"]["unit_mass_kg"])
        self.live = [r for r in self.rows if r["status"] in IN_FORCE and r["at"] < self.end]
        self.now = [r for r in self.live if r["at"] >= self.start]
        self.qualification = {r["unit"] for r in self.live if r["stage"] in STRESS}
        self.overrides: dict[str, tuple[str, str]] = {}
        for r in sorted(self.live, key=lambda r: (r["at"], r["id"])):
            if r["type"] == "human_review" and r["reviewed"] and r["outcome"] in ("pass", "fail"):
                self.overrides[r["reviewed"]] = (r["id"], r["outcome"])
        self.units: dict[str, dict[str, Any]] = {}
        for r in sorted(self.live, key=lambda r: (r["at"], r["id"])):
            if r["type"] not in PRODUCTION or r["unit"] in self.qualification:
                continue
            u = self.units.setdefault(r["unit"], {"product": r["product"] or "(none)", "first_at": r["at"],
                                                  "inspection": None, "flash": None})  # fmt: skip
            if r["type"] in INSPECTIONS and u["inspection"] is None and r["stage"] in (None, "initial"):
                u["inspection"] = self.verdict(r) or "inconclusive"
            if r["type"] == "power_measurement" and u["flash"] is None and r["stage"] == "initial":
                u["flash"] = r["pmax"]
        self.produced = {k: u for k, u in self.units.items() if u["first_at"] >= self.start}

    def verdict(self, r: dict[str, Any]) -> str | None:
        return self.overrides[r["id"]][1] if r["id"] in self.overrides else r["outcome"]

    # ------------------------------------------------------------ the figures, from the criteria

    def first_pass_yield(self) -> float | None:
        return ratio(sum(u["inspection"] == "pass" for u in self.produced.values()), len(self.produced))

    def failing_units(self) -> dict[str, str]:
        out = {}
        for r in self.now:
            if r["type"] in VERDICTS and r["unit"] not in self.qualification and self.verdict(r) == "fail":
                out[r["unit"]] = r["product"] or "(none)"
        return out

    def non_conformities(self) -> int:
        return len(self.failing_units())

    def scrap_mass_kg(self) -> float | None:
        products = list(self.failing_units().values())
        if any(p not in self.mass for p in products):
            return None
        return round(sum(float(self.mass[p]) for p in products), 6)

    def product_categories_assessed(self) -> float | None:
        made = {u["product"] for u in self.produced.values()}
        assessed = {r["product"] or "(none)" for r in self.now if r["type"] in ASSESSMENTS}
        return ratio(len(made & assessed), len(made))

    def substances_over_limit(self) -> int:
        return len({r["unit"] for r in self.now if r["screening"] == "OL"})

    def critical_raw_materials(self) -> float | None:
        made: dict[str, int] = defaultdict(int)
        for u in self.produced.values():
            made[u["product"]] += 1
        found: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in self.now:
            for element, pct in (r["crm"] or {}).items():
                found[(r["product"] or "(none)", element)].append(pct)
        if not found or any(p not in self.mass for p, _ in found):
            return None
        total = sum(
            round(sum(v) / len(v) / 100 * float(self.mass[p]) * made.get(p, 0), 6) for (p, _), v in found.items()
        )
        return round(total, 6)

    def recycled_content(self) -> None:
        return None

    def durability_pmax_loss(self) -> float | None:
        initial: dict[str, float] = {}
        for r in sorted(self.live, key=lambda r: (r["at"], r["id"])):
            if r["type"] == "power_measurement" and r["stage"] == "initial" and r["pmax"] is not None:
                initial.setdefault(r["unit"], r["pmax"])
        losses: dict[str, list[float]] = defaultdict(list)
        for r in self.now:
            if r["type"] == "power_measurement" and r["stage"] in STRESS and r["unit"] in initial:
                p0 = initial[r["unit"]]
                losses[r["stage"]].append((p0 - r["pmax"]) / p0 * 100)
        return max((round(sum(v) / len(v), 4) for v in losses.values()), default=None)

    def production_mw(self) -> float | None:
        flashes = [u["flash"] for u in self.produced.values() if u["flash"] is not None]
        return round(sum(flashes) / 1e6, 6) if flashes else None

    def recalls(self) -> int | None:
        if self.head["recalls"] is None:
            return None
        n = 0
        for recall in self.head["recalls"]:
            if not self.head["period"]["start_unix"] <= recall["opened_at"] < self.head["period"]["end_unix"]:
                continue
            if recall["kind"] not in ("lot", "product", "records") or recall["value"] is None:
                continue
            if recall["kind"] == "records":
                covered = set(recall["record_ids"])
                hit = any(r["id"] in covered for r in self.rows if r["status"] in IN_FORCE)
            else:
                key = "lot" if recall["kind"] == "lot" else "product"
                hit = any(r[key] == recall["value"] for r in self.rows if r["status"] in IN_FORCE)
            n += hit
        return n

    def calibration_coverage(self) -> float | None:
        measured = [r for r in self.now if r["type"] not in ("calibration_certificate", "human_review")]
        ok = [r for r in measured if r["cal_from"] and r["cal_from"] <= r["at"] <= r["cal_until"] and r["cal_ok"]]
        return ratio(len(ok), len(measured))

    def data_completeness(self) -> float | None:
        complete = [u for u in self.produced.values() if u["inspection"] is not None and u["flash"] is not None]
        return ratio(len(complete), len(self.produced))

    def anchoring_coverage(self) -> float | None:
        return ratio(sum(bool(r["anchored"]) for r in self.now), len(self.now))

    def restatements(self) -> int:
        return len(self.head["restatements"])

    # ------------------------------------------------------------ the audit sample

    def check_sample(self) -> list[str]:
        """Faults of the sampled records: values that do not follow from the record's JSON, ids that are not
        its SM3 (when SM3 is available)."""
        faults, by_id = [], {r["id"]: r for r in self.rows}
        sm3 = _sm3()
        for rid in self.head["sample"]["record_ids"]:
            path = self.dir / "sample" / f"{rid}.json"
            if not path.exists():
                faults.append(f"{rid}: sampled record missing from the pack")
                continue
            raw = path.read_bytes()
            if sm3 is not None and sm3(raw) != rid:
                faults.append(f"{rid}: the record's JSON does not hash to its id")
            derived = derive(json.loads(raw))
            row = by_id.get(rid, {})
            for key, value in derived.items():
                if row.get(key) != value:
                    faults.append(f"{rid}: {key} is {row.get(key)!r} in values.jsonl, {value!r} in the record")
        return faults


def derive(doc: dict[str, Any]) -> dict[str, Any]:
    """The values of values.jsonl a record's JSON determines."""
    kind, res = doc["record_type"], doc.get("results", {})
    out: dict[str, Any] = {"type": kind, "unit": doc["subject"]["unambiguous_id"],
                           "product": doc["subject"].get("product"), "lot": doc["subject"].get("lot")}  # fmt: skip
    outcome = screening = stage = pmax = reviewed = crm = None
    if kind == "xrf_analysis":
        screening = res.get("screening_class")
        outcome = {"BL": "pass", "X": "inconclusive", "OL": "fail"}.get(screening or "")
        found: dict[str, float] = {}
        for e in res.get("elements", []):
            if e["element"] in CRM and e["unit"] in TO_PCT:
                found[e["element"]] = found.get(e["element"], 0.0) + e["value"] * TO_PCT[e["unit"]]
        crm = found or None
    elif kind == "el_image":
        stage = res.get("test_stage")
        outcome = "fail" if {f["kind"] for f in res.get("features", [])} & set(EL_FAILING) else "pass"
    elif kind == "ai_inspection":
        outcome = {"pass": "pass", "fail": "fail", "review": "inconclusive"}.get(res.get("decision") or "")
    elif kind == "human_review":
        outcome, reviewed = res.get("decision"), res.get("reviewed_record_id")
    elif kind == "power_measurement":
        stage, pmax = res.get("test_stage"), float(res["pmax_W"])
    out.update(outcome=outcome, screening=screening, stage=stage, pmax=pmax, reviewed=reviewed, crm=crm)
    return out


def _sm3() -> Any:
    try:
        from cryptography.hazmat.primitives import hashes
    except ImportError:
        return None

    def digest(data: bytes) -> str:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize().hex()

    return digest


def agrees(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python reperform.py PACK_DIR", file=sys.stderr)
        return 2
    try:
        pack = Pack(Path(argv[1]))
    except (OSError, ValueError, KeyError) as error:
        print(f"{argv[1]}: not a readable re-performance pack ({error})", file=sys.stderr)
        return 2
    bad = 0
    for key, figure in pack.head["figures"].items():
        mine = getattr(pack, key)()
        ok = agrees(mine, figure["value"])
        bad += not ok
        print(f"{'agrees   ' if ok else 'DIFFERS  '} {key}: report {figure['value']!r}, re-performed {mine!r}")
    faults = pack.check_sample()
    for fault in faults:
        print(f"SAMPLE    {fault}")
    n = len(pack.head["sample"]["record_ids"])
    print(f"{len(pack.head['figures']) - bad} of {len(pack.head['figures'])} figures agree; sample of {n}: "
          f"{len(faults)} fault(s)")  # fmt: skip
    return 1 if bad or faults else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
