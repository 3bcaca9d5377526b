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
from collections.abc import Callable, Iterator
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


_decoder = json.JSONDecoder()
_WHITESPACE = " \t\n\r"  # JSON's whitespace (RFC 8259, section 2)
Key = tuple[str, str]  # (at, id): the order in which "first" and "latest" are meant


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _object(text: str, i: int, value: Callable[[str, int], tuple[Any, int]]) -> tuple[dict[str, Any], int]:
    """The JSON object at `text[i:]` and where it ends, each member's value read by `value(key, position)`, so
    that a caller can keep less of a large member than all of it."""
    i = _skip(text, i)
    if text[i : i + 1] != "{":
        raise ValueError(f"expected an object at character {i}")
    out: dict[str, Any] = {}
    i = _skip(text, i + 1)
    if text[i : i + 1] == "}":
        return out, i + 1
    while True:
        key, i = _decoder.raw_decode(text, i)
        i = _skip(text, i)
        if not isinstance(key, str) or text[i : i + 1] != ":":
            raise ValueError(f"expected a member name and ':' at character {i}")
        out[key], i = value(key, _skip(text, i + 1))
        i = _skip(text, i)
        if text[i : i + 1] == "}":
            return out, i + 1
        if text[i : i + 1] != ",":
            raise ValueError(f"expected ',' or '}}' at character {i}")
        i = _skip(text, i + 1)


def read_head(path: Path) -> dict[str, Any]:
    """pack.json, with each figure's record list read one figure at a time and kept as its count only: a report
    over a million records lists a million ids per figure, which the calculator does not need to hold."""
    text = path.read_text()

    def figure(key: str, i: int) -> tuple[Any, int]:
        value, end = _decoder.raw_decode(text, i)
        if isinstance(value, dict) and isinstance(value.get("records"), list):
            value["records"] = len(value["records"])
        return value, end

    def member(key: str, i: int) -> tuple[Any, int]:
        return _object(text, i, figure) if key == "figures" else _decoder.raw_decode(text, i)

    head, end = _object(text, 0, member)
    if _skip(text, end) != len(text):
        raise ValueError(f"extra data after the pack's object at character {end}")
    return head


def rows_of(path: Path) -> Iterator[dict[str, Any]]:
    """values.jsonl, one row at a time."""
    with path.open() as lines:
        for line in lines:
            line = line.rstrip("\n")
            if line:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"{path.name}: a line is not an object")
                yield row


class Pack:
    """The figures of a pack, recomputed in two streamed passes over values.jsonl (the file is in record id
    order, so what depends on order is kept by its (at, id) key): the first finds the qualification samples and
    the overrides people made of AI decisions, which the second needs to classify each record as it is read.
    What is held is per unit and per figure, never a row per record."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.head = read_head(directory / "pack.json")
        self.start, self.end = self.head["period"]["start"], self.head["period"]["end"]
        self.mass = dict(self.head["inputs"]["unit_mass_kg"])
        values = directory / "values.jsonl"
        self.qualification: set[str] = set()
        latest: dict[str, tuple[Key, str, str]] = {}  # reviewed id -> (key, review id, decision)
        for r in rows_of(values):
            if r["status"] in IN_FORCE and r["at"] < self.end:
                if r["stage"] in STRESS:
                    self.qualification.add(r["unit"])
                if r["type"] == "human_review" and r["reviewed"] and r["outcome"] in ("pass", "fail"):
                    key = (r["at"], r["id"])
                    if r["reviewed"] not in latest or key >= latest[r["reviewed"]][0]:
                        latest[r["reviewed"]] = (key, r["id"], r["outcome"])  # the latest review counts
        self.overrides = {reviewed: (rid, decision) for reviewed, (_, rid, decision) in latest.items()}
        self._second_pass(values)

    def _second_pass(self, values: Path) -> None:
        sampled = set(self.head["sample"]["record_ids"])
        recalls = self._recalls_in_period()
        hit = [False] * len(recalls or [])
        # unit -> [first key, product, first at, inspection key, verdict, flash key, Pmax]
        units: dict[str, list[Any]] = {}
        initial: dict[str, tuple[Key, float]] = {}  # unit -> its first initial flash test, qualification or not
        stressed: list[tuple[str, str, Any]] = []  # (unit, stage, Pmax) of flash tests after a sequence
        self.failing: dict[str, str] = {}  # unit -> product, in the order the units are first met
        self.assessed: set[str] = set()
        self.over_limit: set[str] = set()
        self.found: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.measured = self.calibrated = self.records_now = self.anchored = 0
        self.sample_rows: dict[str, dict[str, Any]] = {}
        for r in rows_of(values):
            if r["id"] in sampled:
                self.sample_rows[r["id"]] = r
            in_force = r["status"] in IN_FORCE
            if in_force:
                for i, recall in enumerate(recalls or []):
                    if not hit[i] and (r["id"] in recall[1] if recall[0] == "records" else r[recall[0]] == recall[1]):
                        hit[i] = True
            if not in_force or not r["at"] < self.end:
                continue
            key = (r["at"], r["id"])
            kind, unit = r["type"], r["unit"]
            if kind == "power_measurement" and r["stage"] == "initial" and r["pmax"] is not None:
                if unit not in initial or key < initial[unit][0]:
                    initial[unit] = (key, r["pmax"])
            if kind in PRODUCTION and unit not in self.qualification:
                u = units.get(unit)
                if u is None or key < u[0]:
                    if u is None:
                        u = units[unit] = [key, None, None, None, None, None, None]
                    u[0], u[1], u[2] = key, r["product"] or "(none)", r["at"]
                if kind in INSPECTIONS and r["stage"] in (None, "initial") and (u[3] is None or key < u[3]):
                    u[3], u[4] = key, self.verdict(r) or "inconclusive"
                if kind == "power_measurement" and r["stage"] == "initial" and r["pmax"] is not None:
                    if u[5] is None or key < u[5]:
                        u[5], u[6] = key, r["pmax"]
            if r["at"] < self.start:
                continue
            # the period's records
            self.records_now += 1
            self.anchored += bool(r["anchored"])
            if kind in VERDICTS and unit not in self.qualification and self.verdict(r) == "fail":
                self.failing[unit] = r["product"] or "(none)"
            if kind in ASSESSMENTS:
                self.assessed.add(r["product"] or "(none)")
            if r["screening"] == "OL":
                self.over_limit.add(unit)
            for element, pct in (r["crm"] or {}).items():
                self.found[(r["product"] or "(none)", element)].append(pct)
            if kind == "power_measurement" and r["stage"] in STRESS:
                stressed.append((unit, r["stage"], r["pmax"]))
            if kind not in ("calibration_certificate", "human_review"):
                self.measured += 1
                self.calibrated += bool(r["cal_from"] and r["cal_from"] <= r["at"] <= r["cal_until"] and r["cal_ok"])
        self.recalls_hit = None if recalls is None else sum(hit)
        # The units in the order of their first production record, as "first" reads them.
        ordered = sorted(units.values(), key=lambda u: u[0])
        self.produced = [{"product": u[1], "inspection": u[4], "flash": u[6]} for u in ordered if u[2] >= self.start]
        self.losses: dict[str, list[float]] = defaultdict(list)
        for unit, stage, pmax in stressed:
            if unit in initial:
                p0 = initial[unit][1]
                self.losses[stage].append((p0 - pmax) / p0 * 100)

    def _recalls_in_period(self) -> list[tuple[str, Any]] | None:
        """The recalls opened in the period with a scope the pack names: (field or "records", value); None when
        the report did not read the recall registry."""
        if self.head["recalls"] is None:
            return None
        out: list[tuple[str, Any]] = []
        for recall in self.head["recalls"]:
            if not self.head["period"]["start_unix"] <= recall["opened_at"] < self.head["period"]["end_unix"]:
                continue
            if recall["kind"] not in ("lot", "product", "records") or recall["value"] is None:
                continue
            out.append(("records", set(recall["record_ids"])) if recall["kind"] == "records"
                       else (recall["kind"], recall["value"]))  # fmt: skip
        return out

    def verdict(self, r: dict[str, Any]) -> str | None:
        return self.overrides[r["id"]][1] if r["id"] in self.overrides else r["outcome"]

    # ------------------------------------------------------------ the figures, from the criteria

    def first_pass_yield(self) -> float | None:
        return ratio(sum(u["inspection"] == "pass" for u in self.produced), len(self.produced))

    def non_conformities(self) -> int:
        return len(self.failing)

    def scrap_mass_kg(self) -> float | None:
        products = list(self.failing.values())
        if any(p not in self.mass for p in products):
            return None
        return round(sum(float(self.mass[p]) for p in products), 6)

    def product_categories_assessed(self) -> float | None:
        made = {u["product"] for u in self.produced}
        return ratio(len(made & self.assessed), len(made))

    def substances_over_limit(self) -> int:
        return len(self.over_limit)

    def critical_raw_materials(self) -> float | None:
        made: dict[str, int] = defaultdict(int)
        for u in self.produced:
            made[u["product"]] += 1
        found = self.found
        if not found or any(p not in self.mass for p, _ in found):
            return None
        total = sum(
            round(sum(v) / len(v) / 100 * float(self.mass[p]) * made.get(p, 0), 6) for (p, _), v in found.items()
        )
        return round(total, 6)

    def recycled_content(self) -> None:
        return None

    def durability_pmax_loss(self) -> float | None:
        return max((round(sum(v) / len(v), 4) for v in self.losses.values()), default=None)

    def production_mw(self) -> float | None:
        flashes = [u["flash"] for u in self.produced if u["flash"] is not None]
        return round(sum(flashes) / 1e6, 6) if flashes else None

    def recalls(self) -> int | None:
        return self.recalls_hit

    def calibration_coverage(self) -> float | None:
        return ratio(self.calibrated, self.measured)

    def data_completeness(self) -> float | None:
        complete = [u for u in self.produced if u["inspection"] is not None and u["flash"] is not None]
        return ratio(len(complete), len(self.produced))

    def anchoring_coverage(self) -> float | None:
        return ratio(self.anchored, self.records_now)

    def restatements(self) -> int:
        return len(self.head["restatements"])

    # ------------------------------------------------------------ the audit sample

    def check_sample(self) -> list[str]:
        """Faults of the sampled records: values that do not follow from the record's JSON, ids that are not
        its SM3 (when SM3 is available)."""
        faults, by_id = [], self.sample_rows
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
