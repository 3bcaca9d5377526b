"""Re-performance of a report (docs/domain.md section 5): its digest anchored on the chain; an audit sample
seeded from the hash of a block after that anchor, so that neither the reporter nor the auditor chooses it; and a
pack an assurance provider recomputes every figure from, offline, with the reference calculator it carries
(esg_reports/reperform.py, standard library only).

The pack (a directory):
  pack.json       the report's figures, period, scope, inputs, recalls, restatements, refusals; the digests of
                  the code version, the mapping and the report; the anchor and the sample
  values.jsonl    one line per record of the scope: the values the criteria read (with status and anchoring)
  sample/ID.json  the canonical JSON of each sampled record; sample/ID.bundle.json its proof bundle
  reperform.py    the reference calculator
  criteria.json   the mapping file the report used
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from esg_reports.mapping import HERE
from esg_reports.metrics import COUNTED, Scope, json_of, raw_rows
from esg_reports.report import Report
from ledger_service.canonical import canonical_json
from ledger_service.digests import sm3
from ledger_service.errors import LedgerError
from ledger_service.index import sealing
from ledger_service.index.crud import as_utc
from ledger_service.index.models import AnchorRow, AuditRow, CertificateRow, RecordFactsRow, RecordRow

F = RecordFactsRow
SAMPLE_SIZE = 25


@dataclass(frozen=True)
class ReportAnchor:
    digest: str  # SM3 of the report's figures document (`figures_document`)
    tx_hash: str
    block: int


def figures_document(report: Report) -> bytes:
    """What the anchored digest covers: entity, period, scope, mapping and code digests, and every figure with
    its prior value and the SM3 of its record ids (canonical JSON)."""
    d = report.to_dict(ids_per_metric=0)
    body = {
        "entity": d["entity"],
        "period": d["period"],
        "scope": d["scope"],
        "mapping_version": d["mapping_version"],
        "mapping_sm3": d["mapping_sm3"],
        "code_version": d["code_version"],
        "figures": {k: {"value": m["value"], "unit": m["unit"], "prior_value": m["prior_value"],
                        "records": m["evidence"]["records"], "record_ids_sm3": m["evidence"]["record_ids_sm3"]}
                    for k, m in d["metrics"].items()},
    }  # fmt: skip
    return canonical_json(body)


def anchor_report(service: Any, report: Report, member: str) -> ReportAnchor:
    """Anchor the report's digest (a one-leaf tier C root of kind esg-report) and note it in the audit trail."""
    from ledger_service.index import crud

    digest = sm3(figures_document(report))
    receipt = service.anchor_digests(member=member, digests=[digest], kind="esg-report")
    tx = "0x" + receipt.tx_hash.hex()
    with service.sessions.begin() as session:
        crud.audit(session=session, actor=member, action="esg_report_anchor", new_value=digest.hex(), reason=tx)
    return ReportAnchor(digest.hex(), tx, receipt.block_number)


def merkle_root(digest: str) -> bytes:
    """The one-leaf root under which a report's digest is anchored."""
    from ledger_service import merkle

    return merkle.root([bytes.fromhex(digest)])


def sample_seed(chain: Any, anchor: ReportAnchor, after: int = 1) -> tuple[int, str]:
    """The hash of the block `after` blocks past the report's anchor: (block number, hash). LookupError until
    that block exists."""
    number = anchor.block + after
    if chain.w3.eth.block_number < number:
        raise LookupError(f"block {number} does not exist yet: the sample is drawn once it does")
    return number, "0x" + bytes(chain.w3.eth.get_block(number)["hash"]).hex()


def seed_when_mined(
    chain: Any, anchor: ReportAnchor, wait_s: float = 0.0, poll_s: float = 0.5
) -> tuple[int, str] | None:
    """`sample_seed`, waiting up to `wait_s` for the block to be mined; None if it still is not."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return sample_seed(chain, anchor)
        except LookupError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll_s)


def anchored_pack(
    service: Any,
    report: Report,
    out_dir: Path,
    member: str,
    wait_s: float = 0.0,
    mine: bool = False,
    values: PendingValues | None = None,
) -> dict[str, Any]:
    """The re-performance pack as an auditor receives it: the report's digest anchored by `member`, the audit
    sample seeded from the block after that anchor (drawn when that block exists within `wait_s`), and the pack
    written into `out_dir`; `mine`: ask a dev chain (anvil) to mine that block; `values`: as `write_pack`.
    Returns what was done: the pack's path, the anchor and the sample's seed (or None)."""
    try:
        anchor = anchor_report(service, report, member=member)
        if mine:
            service.chain.w3.provider.make_request("evm_mine", [])
        seed = seed_when_mined(service.chain, anchor, wait_s)
        path = write_pack(service, report, out_dir, anchor=anchor, seed=seed, values=values)
    except BaseException:
        if values is not None:
            values.cancel()
        raise
    return {"path": path, "anchor": anchor, "seed": seed}


def draw_sample(report: Report, seed: str, size: int = SAMPLE_SIZE) -> list[str]:
    """Up to `size` record ids from the evidence of every figure, ordered by SHA-256(seed || id): anyone with the
    seed and the evidence lists draws the same sample."""
    ids = sorted({r for m in report.metrics.values() for r in m.evidence.record_ids})
    return sorted(ids, key=lambda r: hashlib.sha256(bytes.fromhex(seed[2:]) + bytes.fromhex(r)).digest())[:size]


def restatement_diff(anchored: dict[str, Any], now: Report) -> list[dict[str, Any]]:
    """The figures that changed since an anchored report (its figures document, as JSON), with the records
    revoked or superseded since: the automatic restatement of a later supersede or revoke."""
    figures = json.loads(figures_document(now))["figures"]
    restated = [r["record_id"] for r in now.metrics["restatements"].table] if "restatements" in now.metrics else []
    out = []
    for key, was in anchored["figures"].items():
        new = figures.get(key)
        if new is None or new["value"] != was["value"] or new["record_ids_sm3"] != was["record_ids_sm3"]:
            out.append({"metric": key, "was": was["value"], "now": None if new is None else new["value"],
                        "restated_records": restated})  # fmt: skip
    return out


def _population_rows(session: Session, report: Report | _Scoped) -> Iterator[Any]:
    """Every record of the report's scope (any status, any time) with the values the criteria read, as rows
    (tuples by position) in record id order; times as the database gives them (`_iso_any` reads both forms),
    `crm` as its stored JSON text where the database gives text (`metrics.json_of` decodes it), `external` as
    0/1: a million rows per report take no per-row conversion here."""
    scope = report.scope
    where = []  # members and products here; status and the viewer's visibility come with the record's row
    if scope.members is not None:
        where.append(F.lab_member.in_(scope.members))
    if scope.products is not None:
        where.append(F.product.in_(scope.products))
    raw = String()  # SQLite's stored text of a time, not a datetime per row
    facts = (F.record_id, F.record_type, F.lab_member, F.product, F.lot, F.unit_id, type_coerce(F.measured_at, raw),
             F.outcome, F.screening, F.test_stage, F.pmax_w, type_coerce(F.crm, raw), F.reviewed_record_id)  # fmt: skip
    if not _merge_streams(session):
        yield from _joined_rows(session, facts, where, scope)
        return
    # On SQLite, a join reads records and anchors through their id index once per fact row, a random read each
    # (two thirds of the pack's time at 1,000,000 records): the three tables are read instead as three streams in
    # record id order (SQLite compares text as Python does, byte by byte) and merged here, and the calibration
    # certificates, a few per instrument, looked up once each.
    fact_rows = raw_rows(session, select(*facts, F.calibration_id).where(*where).order_by(F.record_id))
    records = raw_rows(
        session,
        select(RecordRow.id, RecordRow.status, RecordRow.superseded_by, RecordRow.confidentiality).order_by(
            func.coalesce(RecordRow.id, RecordRow.id)  # sorted, not read through the id index: no random read
        ),
    )
    anchored = raw_rows(session, select(AnchorRow.record_id).order_by(AnchorRow.record_id))  # the index alone
    certificates: dict[str, tuple[Any, Any, Any, Any]] = {}
    viewer = scope.viewer
    record = next(records, None)
    anchor = next(anchored, None)
    for f in fact_rows:
        rid = f[0]
        while record is not None and record[0] < rid:
            record = next(records, None)
        if record is None or record[0] != rid:
            continue  # a fact without its record: the join leaves it out
        if viewer is not None and record[3] != "public" and f[2] != viewer:
            continue
        while anchor is not None and anchor[0] < rid:
            anchor = next(anchored, None)
        calibration = f[13]
        cert = certificates.get(calibration)
        if cert is None:
            cert = certificates[calibration] = _certificate(session, calibration)
        yield (*f[:13], record[1], record[2], record[3], rid if anchor is not None and anchor[0] == rid else None,
               *cert)  # fmt: skip


def _merge_streams(session: Session) -> bool:
    """Whether `_population_rows` merges id-ordered streams (SQLite) rather than join (where the database plans
    the join)."""
    return session.get_bind().dialect.name == "sqlite"


def _certificate(session: Session, calibration_id: str) -> tuple[Any, Any, Any, Any]:
    """(valid from, valid until, external, the certificate record's status) of a calibration certificate, each
    None where the index holds none."""
    raw = String()
    row = session.execute(
        select(type_coerce(CertificateRow.valid_from, raw), type_coerce(CertificateRow.valid_until, raw),
               type_coerce(CertificateRow.external, Integer())).where(CertificateRow.record_id == calibration_id)
    ).first()  # fmt: skip
    status = session.scalar(select(RecordRow.status).where(RecordRow.id == calibration_id))
    if row is None:
        return None, None, None, status
    return row[0], row[1], row[2], status


def _joined_rows(session: Session, facts: tuple[Any, ...], where: list[Any], scope: Any) -> Iterator[Any]:
    """`_population_rows` as one join, where the database plans it."""
    if scope.viewer is not None:
        where = [*where, or_(RecordRow.confidentiality == "public", F.lab_member == scope.viewer)]
    certificate = RecordRow.__table__.alias("certificate")
    raw = String()
    query = (
        select(*facts, RecordRow.status, RecordRow.superseded_by, RecordRow.confidentiality, AnchorRow.tx_hash,
               type_coerce(CertificateRow.valid_from, raw), type_coerce(CertificateRow.valid_until, raw),
               type_coerce(CertificateRow.external, Integer()), certificate.c.status)
        .join(RecordRow, RecordRow.id == F.record_id)
        .outerjoin(AnchorRow, AnchorRow.record_id == F.record_id)
        .outerjoin(CertificateRow, CertificateRow.record_id == F.calibration_id)
        .outerjoin(certificate, certificate.c.id == F.calibration_id)
        .where(*where)
        .order_by(F.record_id)
    )  # fmt: skip
    yield from raw_rows(session, query)


def population(session: Session, report: Report) -> Iterator[dict[str, Any]]:
    """Every record of the report's scope (any status, any time), with the values the criteria read."""
    for (rid, kind, member, product, lot, unit, at, outcome, screening, stage, pmax, crm, reviewed, status, by, _,
         tx, cal_from, cal_until, external, cert_status) in _population_rows(session, report):  # fmt: skip
        yield {"id": rid, "type": kind, "member": member, "product": product, "lot": lot, "unit": unit,
               "at": _iso_any(at), "outcome": outcome, "screening": screening, "stage": stage, "pmax": pmax,
               "crm": json_of(crm), "reviewed": reviewed, "status": status, "superseded_by": by,
               "anchored": tx is not None, "cal_from": _iso_any(cal_from) if cal_from else None,
               "cal_until": _iso_any(cal_until) if cal_until else None,
               "cal_ok": bool(external or cert_status in COUNTED)}  # fmt: skip


def population_lines(session: Session, report: Report | _Scoped) -> Iterator[str]:
    """`population` as values.jsonl lines, exactly `json.dumps(row, sort_keys=True)`, built from the columns
    rather than through a dict and the generic encoder: a million lines per report. The runs of fields between
    a row's own values (id, time, unit, Pmax, materials, review) take few distinct values (a lot, a product, a
    status, a certificate), so each run is formatted once and looked up after."""
    text, number, dumps = encode_basestring_ascii, float.__repr__, json.dumps

    def s(v: Any) -> str:
        return "null" if v is None else text(v)

    def runs(format_run: Any) -> tuple[Any, Any]:
        """A run's formatted text by its key: (lookup, make) over one memo."""
        memo: dict[Any, str] = {}

        def make(key: tuple[Any, ...]) -> str:
            memo[key] = format_run(*key)
            return memo[key]

        return memo.get, make

    cal, cal_new = runs(lambda cal_from, cal_until, ok: (
        f', "cal_from": {text(_iso_any(cal_from)) if cal_from else "null"}, "cal_ok": {"true" if ok else "false"}, '
        f'"cal_until": {text(_iso_any(cal_until)) if cal_until else "null"}, "crm": '))  # fmt: skip
    middle, middle_new = runs(lambda lot, member, outcome: (
        f', "lot": {s(lot)}, "member": {s(member)}, "outcome": {s(outcome)}, "pmax": '))  # fmt: skip
    product_run, product_new = runs(lambda product: f', "product": {s(product)}, "reviewed": ')
    state, state_new = runs(lambda screening, stage, status: (
        f', "screening": {s(screening)}, "stage": {s(stage)}, "status": {s(status)}, "superseded_by": '))  # fmt: skip
    kind_run, kind_new = runs(lambda kind: f', "type": {s(kind)}, "unit": ')
    for (rid, kind, member, product, lot, unit, at, outcome, screening, stage, pmax, crm, reviewed, status, by, _,
         tx, cal_from, cal_until, external, cert_status) in _population_rows(session, report):  # fmt: skip
        p = "null" if pmax is None else number(pmax) if type(pmax) is float and math.isfinite(pmax) else dumps(pmax)
        c = "null" if crm is None else dumps(json_of(crm), sort_keys=True)
        when = f"{at[:10]}T{at[11:]}Z" if type(at) is str and len(at) == 26 and at[10] == " " else _iso_any(at)
        k1 = (cal_from, cal_until, bool(external or cert_status in COUNTED))
        k2 = (lot, member, outcome)
        k4 = (screening, stage, status)
        yield (f'{{"anchored": {"false" if tx is None else "true"}, "at": {text(when)}'
               f'{cal(k1) or cal_new(k1)}{c}, "id": {s(rid)}{middle(k2) or middle_new(k2)}{p}'
               f'{product_run((product,)) or product_new((product,))}{s(reviewed)}{state(k4) or state_new(k4)}'
               f'{s(by)}{kind_run((kind,)) or kind_new((kind,))}{s(unit)}}}\n')  # fmt: skip


def _iso(moment: Any) -> str:
    return str(as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def _iso_any(moment: Any) -> str:
    """`_iso` of a datetime, or of the text SQLite stores one as (YYYY-MM-DD HH:MM:SS.ffffff, UTC)."""
    if isinstance(moment, str):
        if len(moment) == 26 and moment[10] == " ":
            return f"{moment[:10]}T{moment[11:]}Z"
        moment = datetime.fromisoformat(moment)
    return _iso(moment)


@dataclass(frozen=True)
class _Scoped:
    """What `population_lines` reads of a report: its scope (the values do not depend on the figures)."""

    scope: Scope


@dataclass
class PendingValues:
    """values.jsonl being written by a child process (`start_values`)."""

    path: Path
    scope: Scope
    process: Any  # multiprocessing.Process

    def wait(self) -> None:
        """Until the child is done; LedgerError if it failed (the file is then removed)."""
        self.process.join()
        if self.process.exitcode != 0:
            self.path.unlink(missing_ok=True)
            raise LedgerError(f"{self.path}: the process writing the values failed (exit {self.process.exitcode})")

    def cancel(self) -> None:
        """Stop the child and remove what it wrote: the report it was for failed."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.path.unlink(missing_ok=True)


def start_values(sessions: Any, scope: Scope, out_dir: Path) -> PendingValues | None:
    """Start writing the pack's values.jsonl for `scope` into `out_dir` in a child process, so that it is written
    on another core while this one computes and renders the report (the values are a function of the index and
    the scope alone, not of the figures; docs/architecture.md). Start it after the index's facts are refreshed
    and committed (`facts.refresh`): the child reads what is committed. None where no child can read the index
    (an in-memory database) or the platform cannot fork: `write_pack` then writes the values itself."""
    engine = getattr(sessions, "kw", {}).get("bind")
    if engine is None or "fork" not in multiprocessing.get_all_start_methods():
        return None
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "values.jsonl"
    process = multiprocessing.get_context("fork").Process(
        target=_write_values, args=(sessions, scope, path), name="qledger-pack-values", daemon=True
    )
    process.start()
    return PendingValues(path, scope, process)


def _write_values(sessions: Any, scope: Scope, path: Path) -> None:
    """In the child: the values of `scope` into `path`, over connections of its own (the parent's pooled
    connections are left to the parent, as SQLAlchemy's pooling documentation asks after a fork)."""
    sessions.kw["bind"].dispose(close=False)
    with sessions() as session, path.open("w") as values:
        _write_lines(values, population_lines(session, _Scoped(scope)))


def _write_lines(out: Any, lines: Iterator[str]) -> None:
    while chunk := list(islice(lines, 20_000)):
        out.write("".join(chunk))


def write_pack(
    service: Any,
    report: Report,
    out_dir: Path,
    *,
    anchor: ReportAnchor | None = None,
    seed: tuple[int, str] | None = None,
    values: PendingValues | None = None,
) -> Path:
    """Write the re-performance pack of `report` into `out_dir`; with `anchor` and `seed`, the audit sample too;
    with `values` (`start_values` of the report's scope into `out_dir`), its values.jsonl is the one that child
    writes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sample").mkdir(exist_ok=True)
    if values is not None and (values.scope != report.scope or values.path != out_dir / "values.jsonl"):
        raise ValueError(f"{values.path}: values of another scope or pack than {out_dir}")
    with service.sessions() as session:
        if values is None:
            with (out_dir / "values.jsonl").open("w") as out:
                _write_lines(out, population_lines(session, report))  # streamed: a line per record of the scope
        restatements = report.metrics["restatements"].table if "restatements" in report.metrics else []
        recalls = _recalls(session, report)
        sample = draw_sample(report, seed[1]) if seed else []
        for rid in sample:
            canonical = sealing.canonical_of(session, rid, session.get(RecordRow, rid).canonical)
            (out_dir / "sample" / f"{rid}.json").write_bytes(canonical)
    for rid in sample:
        try:
            bundle = service.proof_bundle(rid, with_content=False)
        except LedgerError as error:  # not anchored (yet): an exception of the anchoring metric
            bundle = {"not_anchored": str(error)}
        (out_dir / "sample" / f"{rid}.bundle.json").write_text(json.dumps(bundle, indent=1, default=str))
    head = {
        "format": "qledger-reperformance/1",
        "entity": {"name": report.entity.name, "lei": report.entity.lei},
        "period": {"start": _iso(report.period.start), "end": _iso(report.period.end), "label": report.period.label,
                   "start_unix": int(report.period.start.timestamp()), "end_unix": int(report.period.end.timestamp())},
        "scope": {"members": report.scope.members, "products": report.scope.products, "viewer": report.scope.viewer},
        "code_version": report.code_version,
        "mapping_version": report.mapping.version,
        "mapping_sm3": report.mapping.digest,
        "report_sm3": sm3(figures_document(report)).hex(),
        "anchor": None if anchor is None else {"tx_hash": anchor.tx_hash, "block": anchor.block,
                                               "digest": anchor.digest},
        "sample": {"seed_block": seed[0] if seed else None, "seed_hash": seed[1] if seed else None,
                   "rule": "sort the evidence record ids by SHA-256(seed hash bytes || record id bytes), take "
                   f"the first {SAMPLE_SIZE}", "record_ids": sample},
        "inputs": {"unit_mass_kg": dict(report.inputs.product_mass_kg)},
        "recalls": recalls,
        "restatements": restatements,
        "figures": "FIGURES",
    }  # fmt: skip
    # The figures' record lists (a million ids) in the C encoder's compact form, one metric at a time: an indented
    # dump of them would take the pure-Python encoder, and all of them at once a list per metric in memory.
    before, after = json.dumps(head, indent=1, default=str).split('"FIGURES"', 1)
    with (out_dir / "pack.json").open("w") as f:
        f.write(before + "{")
        for i, (k, m) in enumerate(report.metrics.items()):
            f.write(f"{', ' if i else ''}{json.dumps(k)}: ")
            f.write(json.dumps({"value": m.value, "unit": m.unit, "records": "RECORDS"}).split('"RECORDS"', 1)[0])
            f.write(_id_list(m.evidence.listing) if m.evidence.record_ids else "[]")
            f.write("}")
        f.write("}" + after)
    shutil.copyfile(Path(__file__).with_name("reperform.py"), out_dir / "reperform.py")
    shutil.copyfile(HERE / "mappings" / f"qledger-esg-{report.mapping.version}.json", out_dir / "criteria.json")
    if values is not None:
        values.wait()  # last: the child writes while this one writes the rest
    return out_dir


_PLAIN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"


def _id_list(listing: bytes) -> str:
    """The record ids of an evidence listing (sorted, one per line) as `json.dumps` writes their list: built
    from the listing in one piece when every id is plain (letters and digits: nothing to escape)."""
    if not listing.translate(None, _PLAIN):
        return '["' + listing.decode().replace("\n", '", "') + '"]'
    return json.dumps(listing.decode().split("\n"))


def _recalls(session: Session, report: Report) -> list[dict[str, Any]] | None:
    """The recalls the report read from the chain, with the scope each names in clear (checked against the
    scope digest on chain by the metric)."""
    if report.inputs.recalls is None:
        return None
    from ledger_service.index.models import RecallScopeRow

    texts = {}
    for new, kind, old in session.execute(
        select(AuditRow.new_value, AuditRow.field, AuditRow.old_value).where(AuditRow.action == "recall_open")
    ):
        if new and kind and old:
            texts[int(new)] = (kind, json.loads(old))
    out = []
    for view in report.inputs.recalls:
        kind, value = texts.get(view.recall_id, ("", None))
        entry: dict[str, Any] = {"recall": view.recall_id, "opened_at": view.opened_at, "kind": kind, "value": value,
                                 "scope_on_chain": "0x" + view.scope.hex()}  # fmt: skip
        if kind == "records":
            row = session.get(RecallScopeRow, view.scope.hex())
            entry["record_ids"] = list(row.record_ids) if row else []
        out.append(entry)
    return out
