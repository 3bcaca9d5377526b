"""The `qledger` command line."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger_service.config import Settings
from ledger_service.demo import Demo
from ledger_service.errors import LedgerError, StoreUnavailable, TransactionReverted
from ledger_service.localnode import local_chain
from ledger_service.records import RecordInvalid
from ledger_service.runtime import Runtime, load_deployment, open_runtime, save_deployment
from ledger_service.service import AttachmentFile
from ledger_service.verification import is_valid

app = typer.Typer(help="qledger: quality records validated, SM3-hashed, pinned and anchored on a consortium chain.")
console = Console(soft_wrap=True)  # ids and paths stay on one line, whatever the terminal width


def _fail(message: str) -> None:
    """One readable line on stderr and a non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@app.command()
def demo(
    records: Annotated[
        int, typer.Option(help="How many records to ingest (at least 1,000 for the full story).")
    ] = 1000,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the demo's state here (default: a temporary directory).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the demo writes its reports.")] = Path("qledger-demo-out"),
) -> None:
    """Run the main job in one process: consortium, calibrations, tiers A/B/C, verification, caught faults."""
    from ledger_service.demo import run_demo
    from ledger_service.runtime import open_runtime

    if records < 10:
        _fail("--records must be at least 10")
    temporary = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="qledger-demo-")) if data_dir is None else data_dir
    try:
        runtime = open_runtime(Settings(data_dir=directory, chain_url=None, ipfs_url=None, database_url=None))
        columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            tasks: dict[str, TaskID] = {}

            def tick(task: str, advance: int, total: int) -> None:
                if task not in tasks:
                    tasks[task] = bar.add_task(task, total=total)
                bar.advance(tasks[task], advance)

            report = run_demo(runtime.service, runtime.keys, count=records, progress=tick, out_dir=out)
    except LedgerError as error:
        _fail(str(error))
        return
    finally:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)

    table = Table(title="qledger demo")
    table.add_column("step")
    table.add_column("result", justify="right")
    for tier in sorted(report.records_by_tier):
        table.add_row(f"records anchored in tier {tier}", str(report.records_by_tier[tier]))
    table.add_row("records verified VALID", f"{report.verified_valid} / {report.verified_total}")
    for step, seconds in report.timings.items():
        table.add_row(f"time: {step}", f"{seconds:.1f} s")
    console.print(table)
    cases = Table(title="faults caught")
    for column in ("case", "caught by", "reason code"):
        cases.add_column(column, overflow="fold")
    for case in report.cases:
        cases.add_row(*case)
    console.print(cases)
    for title, counts in (
        ("the regulator's story: a confidential lot recalled and unlocked", report.recall),
        ("AI inspection of real EL cell images, every decision anchored", report.inspection),
    ):
        if counts:
            story = Table(title=title)
            story.add_column("step")
            story.add_column("count", justify="right")
            for step, n in counts.items():
                story.add_row(step, str(n))
            console.print(story)
    for kind, path in report.outputs.items():
        console.print(f"{kind}: {path}")
    lot = report.recall.get("confidential records in the lot", 0)
    if (
        report.verified_valid != report.verified_total
        or report.recall.get("verified") != lot
        or any("wrong" in c[2] or "not caught" in c[2] for c in report.cases)
    ):
        _fail("the demo found a record that did not verify or a fault that was not caught")


@contextmanager
def _runtime(need_consortium: bool = True) -> Iterator[Runtime]:
    """Settings from QLEDGER_*; without a chain URL, a local anvil keeps the chain in the data directory."""
    settings = Settings()
    with ExitStack() as stack:
        if settings.chain_url is None:
            settings.chain_url = stack.enter_context(local_chain(settings.data_dir))
        runtime = open_runtime(settings)
        if not load_deployment(runtime) and need_consortium:
            raise LedgerError(f"no consortium in {settings.data_dir}: run `qledger init` first")
        yield runtime


def _guard(action: Callable[[], None]) -> None:
    try:
        action()
    except RecordInvalid as refused:
        for fault in refused.faults:
            typer.echo(f"  {fault.path or '(record)'}: {fault.code} - {fault.message}", err=True)
        _fail(f"record refused: {len(refused.faults)} fault(s)")
    except TransactionReverted as refused:
        _fail(f"the chain refused it: {refused.code} ({refused})")
    except (LedgerError, OSError, ValueError) as error:
        _fail(str(error))


@app.command()
def init() -> None:
    """Found a local consortium (two labs, a manufacturer, a regulator) with calibrated instruments."""

    def run() -> None:
        with _runtime(need_consortium=False) as rt:
            if rt.service.chain.deployment is not None:
                raise LedgerError(f"{rt.settings.data_dir} already holds a consortium")
            demo = Demo(rt.service, rt.keys)
            demo.found_consortium()
            demo.calibrate_instruments()
            policy = demo.configure_escrow()
            save_deployment(rt, demo.certificates)
            console.print(f"escrow policy {policy}: 3 of 5 agents' shares open a confidential record")
            table = Table(title=f"consortium founded in {rt.settings.data_dir}")
            table.add_column("instrument")
            table.add_column("calibration certificate (record id)")
            for instrument, certificate in demo.certificates.items():
                table.add_row(instrument, certificate)
            console.print(table)

    _guard(run)


@app.command()
def example(
    record_type: Annotated[str, typer.Argument(help="el_image, tensile_test or xrf_analysis")],
    out_dir: Annotated[Path, typer.Option(help="Where to write the record JSON (and its image).")] = Path("."),
) -> None:
    """Write a valid example record for the local consortium, ready for `qledger ingest`."""

    def run() -> None:
        if record_type not in ("el_image", "tensile_test", "xrf_analysis"):
            raise LedgerError("record type must be el_image, tensile_test or xrf_analysis")
        with _runtime() as rt:
            demo = Demo(rt.service, rt.keys, seed=int.from_bytes(os.urandom(4), "big"))
            demo.load_calibrations(rt.certificates)
            raw, files = demo.record(record_type, demo.rng.randrange(10**6))
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in files:
            (out_dir / f.name).write_bytes(f.data or b"")
            raw["attachments"] = [{"name": f.name, "media_type": f.media_type, "file": f.name}]
        path = out_dir / f"{record_type}-{raw['report_id']}.json"
        path.write_text(json.dumps(raw, indent=2) + "\n")
        console.print(str(path))

    _guard(run)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Record JSON files, or folders of them.")],
    member: Annotated[str, typer.Option(help="The submitting member (its key is in the data directory).")] = "LAB-SZ",
) -> None:
    """Validate, hash, pin, anchor and index records. Attachments: entries with a "file" path beside the JSON."""

    def run() -> None:
        files = [p for path in paths for p in (sorted(path.glob("*.json")) if path.is_dir() else [path])]
        with _runtime() as rt, _bar() as bar:
            task = bar.add_task("ingest", total=len(files))
            for path in files:
                raw = json.loads(path.read_text())
                attachments = []
                for entry in raw.get("attachments", []):
                    if "file" in entry:
                        location = path.parent / entry.pop("file")
                        attachments.append(AttachmentFile(entry["name"], entry["media_type"], path=location))
                raw["attachments"] = [e for e in raw.get("attachments", []) if "sm3" in e]
                result = rt.service.submit(raw, attachments, actor=member)
                console.print(f"{path.name}: {result.record_id} ({'new' if result.created else 'already known'})")
                bar.advance(task)
            try:
                pinned = rt.service.pin_pending()
                console.print(f"pinned the content of {pinned} record(s)")
            except StoreUnavailable as error:
                console.print(f"[yellow]pinning deferred ({error}); the content waits in the local spool[/]")
            anchor_task = bar.add_task("anchor", total=None)
            anchored = rt.service.anchor_pending(actor=member, progress=lambda n: bar.advance(anchor_task, n))
            bar.update(anchor_task, total=anchored, completed=anchored)
            console.print(f"anchored {anchored} record(s)")

    _guard(run)


@app.command()
def status(record_id: str) -> None:
    """Where a record stands: index status, anchor, and the chain's word."""

    def run() -> None:
        with _runtime() as rt:
            fragments = rt.service.verify(record_id)
            table = Table(title=f"record {record_id}")
            for column in ("check", "status", "reason"):
                table.add_column(column)
            for f in fragments:
                table.add_row(f.name, str(f.status), f.reason["code"] if f.reason else "")
            console.print(table)

    _guard(run)


@app.command()
def proof(
    record_id: str,
    out: Annotated[Path | None, typer.Option(help="Write the bundle here instead of standard output.")] = None,
) -> None:
    """Write a self-contained proof bundle of an anchored record."""

    def run() -> None:
        with _runtime() as rt:
            text = json.dumps(rt.service.proof_bundle(record_id), indent=2)
        if out is None:
            sys.stdout.write(text + "\n")
        else:
            out.write_text(text + "\n")

    _guard(run)


@app.command()
def revoke(
    record_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail; its digest goes on chain).")],
    member: Annotated[str, typer.Option(help="Who revokes: the submitter, a regulator or an auditor.")] = "REG-CN",
) -> None:
    """Revoke an anchored record (ISO/IEC 17025 7.8.8)."""

    def run() -> None:
        with _runtime() as rt:
            rt.service.revoke(record_id, member=member, reason=reason)
        console.print(f"revoked {record_id}")

    _guard(run)


@app.command("verify")
def verify_command(
    target: Annotated[
        str, typer.Argument(help="A record id, a proof bundle file, a record file, or a certificate PDF.")
    ],
    rpc: Annotated[str | None, typer.Option(help="For a bundle: any JSON-RPC node of the chain.")] = None,
    attach: Annotated[
        list[Path] | None, typer.Option(help="For a record file: its attachment files, checked by SM3.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the fragments as JSON.")] = False,
) -> None:
    """Verify a record by id (index + chain) or a proof bundle (chain only, no database)."""
    from ledger_service.chain.jsonrpc import JsonRpcChainClient
    from ledger_service.chain.web3_client import ChainReader
    from ledger_service.verification import Evidence, read_bundle, verify

    result: dict[str, Any] = {}

    def run() -> None:
        if target.lower().endswith(".pdf") and Path(target).is_file():
            from esg_reports import certificates

            with _runtime() as rt:
                result["fragments"] = certificates.verify_pdf(rt.service, Path(target).read_bytes())
                result["id"], result["ok"] = target, certificates.is_valid(result["fragments"])
            return
        document = json.loads(Path(target).read_text()) if Path(target).is_file() else None
        if document is not None and "format" not in document:  # a record file, not a bundle
            contents = {p.name: p.read_bytes() for p in attach or []}
            with _runtime() as rt:
                record_id, normalised = rt.service.record_document(document)
                try:
                    evidence = replace(rt.service.evidence(record_id, contents), record=normalised)
                except LedgerError:  # not in this index: the checks say what the chain says
                    evidence = Evidence(normalised, record_id, None, contents)
                result["id"], result["fragments"] = record_id, verify(evidence, ChainReader(rt.service.chain))
        elif document is not None:
            evidence, deployment = read_bundle(document)
            with ExitStack() as stack:
                url = rpc or stack.enter_context(local_chain(Settings().data_dir))
                client = JsonRpcChainClient(url)
                client.attach(deployment)
                result["id"], result["fragments"] = evidence.record_id, verify(evidence, ChainReader(client))
        else:
            with _runtime() as rt:
                result["id"], result["fragments"] = target, rt.service.verify(target)

    _guard(run)
    fragments = result["fragments"]
    ok = result.get("ok", is_valid(fragments))
    if as_json:
        console.print_json(json.dumps({"valid": ok, "fragments": [f.to_json() for f in fragments]}))
    else:
        table = Table(title=f"{result['id'][:40]}: {'VALID' if ok else 'NOT VALID'}")
        for column in ("check", "type", "status", "reason"):
            table.add_column(column)
        for f in fragments:
            reason = f"{f.reason['code']}: {f.reason['message']}" if f.reason else ""
            table.add_row(f.name, f.type, str(f.status), reason)
        console.print(table)
    if not ok:
        raise typer.Exit(code=2)


keys_app = typer.Typer(help="Members' API keys.")
app.add_typer(keys_app, name="keys")


@keys_app.command("issue")
def issue_key(
    member: Annotated[str, typer.Argument(help="A member whose chain key is in the data directory.")],
) -> None:
    """Issue an API key for a member; it is printed once, only its SM3 is kept."""
    from ledger_service.index import crud

    def run() -> None:
        with _runtime() as rt:
            account = rt.service.accounts.get(member)
            if account is None:
                raise LedgerError(f"unknown member {member!r}: one of {', '.join(sorted(rt.service.accounts))}")
            with rt.service.sessions.begin() as session:
                key = crud.issue_api_key(session=session, member=member, account=account, actor="cli")
        sys.stdout.write(key + "\n")

    _guard(run)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
) -> None:
    """Run the HTTP API (and its anchoring worker) until interrupted."""
    import uvicorn

    from ledger_service.api.main import create_app
    from ledger_service.api.observability import json_logging

    def run() -> None:
        json_logging()
        with _runtime() as rt:
            uvicorn.run(
                create_app(rt.service, keys=rt.keys, certificates=rt.certificates),
                host=host,
                port=port,
                log_config=None,
                access_log=False,
            )

    _guard(run)


def _bar() -> Progress:
    columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())


agent_app = typer.Typer(help="Escrow agents: release key shares when a recall is in force.")
app.add_typer(agent_app, name="agent")
recall_app = typer.Typer(help="Recalls: open, approve, status, decrypt, close.")
app.add_typer(recall_app, name="recall")
AsMember = Annotated[str, typer.Option("--as", help="The member acting (its keys are in the data directory).")]


@agent_app.command("run")
def agent_run(
    agent: Annotated[str, typer.Argument(help="The escrow agent's member id, e.g. ESCROW-1.")],
    interval: Annotated[float, typer.Option(help="Seconds between looks at the chain.")] = 2.0,
    once: Annotated[bool, typer.Option(help="Process what is there now, then exit.")] = False,
) -> None:
    """Watch the chain for recalls in force and release this agent's key shares (restart-safe)."""
    import threading

    from consortium.agent import EscrowAgent

    def run() -> None:
        with _runtime() as rt:
            watcher = EscrowAgent(rt.service, agent, rt.keys.sm2(agent))
            if once:
                console.print(f"{agent}: {watcher.run_once()} release(s) posted")
                return
            stop = threading.Event()
            console.print(f"{agent}: watching the chain every {interval:g} s (Ctrl-C stops)")
            try:
                watcher.run(stop, interval)
            except KeyboardInterrupt:
                stop.set()

    _guard(run)


@recall_app.command("open")
def recall_open(
    reason: Annotated[str, typer.Option(help="The grounds, e.g. the safety notice's reference.")],
    acting: AsMember = "REG-CN",
    lot: Annotated[str | None, typer.Option(help="Recall a lot.")] = None,
    product: Annotated[str | None, typer.Option(help="Recall a product.")] = None,
    record: Annotated[list[str] | None, typer.Option(help="Recall these records (repeat the option).")] = None,
) -> None:
    """Open a recall as a regulator; under the regulator-alone policy it is in force at once."""
    from consortium.recall import open_recall, recall_status

    chosen = [(k, v) for k, v in (("lot", lot), ("product", product), ("records", record)) if v]
    if len(chosen) != 1:
        _fail("name exactly one scope: --lot, --product or --record")

    def run() -> None:
        kind, scope = chosen[0]
        with _runtime() as rt:
            recall_id = open_recall(rt.service, regulator=acting, kind=kind, scope=scope, reason=reason)
            console.print(f"recall {recall_id}: {recall_status(rt.service, recall_id)['status']}")

    _guard(run)


@recall_app.command("approve")
def recall_approve(recall_id: int, acting: AsMember) -> None:
    """Approve a proposed recall (member-quorum policy)."""
    from consortium.recall import approve_recall, recall_status

    def run() -> None:
        with _runtime() as rt:
            approve_recall(rt.service, member=acting, recall_id=recall_id)
            console.print(f"recall {recall_id}: {recall_status(rt.service, recall_id)['status']}")

    _guard(run)


@recall_app.command("status")
def recall_show(recall_id: int) -> None:
    """A recall's status and its releases."""
    from consortium.recall import recall_status

    def run() -> None:
        with _runtime() as rt:
            status = recall_status(rt.service, recall_id)
            console.print(
                f"recall {recall_id}: {status['status']}, {status['scope_kind']} scope, "
                f"opened by {status['regulator']}, {status['approvals']} approval(s)"
            )
            table = Table(title="key-share releases")
            for column in ("agent", "block", "release CID"):
                table.add_column(column)
            for r in status["releases"]:
                table.add_row(str(r["agent"]), str(r["block"]), r["cid"])
            console.print(table)

    _guard(run)


@recall_app.command("decrypt")
def recall_decrypt(
    recall_id: int,
    acting: AsMember = "REG-CN",
    out: Annotated[Path, typer.Option(help="Where to write the decrypted records.")] = Path("recall-out"),
) -> None:
    """Collect the releases, rebuild the data keys, decrypt and verify every record the recall covers."""
    from consortium.recall import decrypt_recall

    def run() -> None:
        with _runtime() as rt:
            unlock = decrypt_recall(
                rt.service, recall_id=recall_id, regulator=acting, key=rt.keys.sm2(acting), out_dir=out
            )
            console.print(
                f"recall {recall_id}: {unlock.releases} release(s); {len(unlock.decrypted)} record(s) decrypted, "
                f"{len(unlock.verified)} verified against the chain; written to {out}"
            )
            for record_id, why in unlock.refused.items():
                console.print(f"  {record_id}: {why}")
            if unlock.refused or not unlock.decrypted:
                raise typer.Exit(2)

    _guard(run)


@recall_app.command("close")
def recall_close(recall_id: int, reason: Annotated[str, typer.Option()], acting: AsMember = "REG-CN") -> None:
    """Close a recall: no release is accepted after this."""
    from consortium.recall import close_recall

    def run() -> None:
        with _runtime() as rt:
            close_recall(rt.service, regulator=acting, recall_id=recall_id, reason=reason)
            console.print(f"recall {recall_id}: closed")

    _guard(run)


@app.command()
def report(
    framework: Annotated[str, typer.Option(help="Comma-separated: esrs, gri, sasb, tcfd.")] = "esrs,gri,sasb,tcfd",
    period: Annotated[int, typer.Option(help="The reporting year.")] = datetime.now(UTC).year,
    format: Annotated[str, typer.Option(help="Comma-separated: json, html, pdf, ixbrl.")] = "pdf,ixbrl,json",
    out: Annotated[Path, typer.Option(help="Where to write the report files.")] = Path("reports"),
    entity: Annotated[str, typer.Option(help="The reporting entity's name.")] = "Demo Modules Co.",
    lei: Annotated[str, typer.Option(help="Its ISO 17442 LEI (the iXBRL entity identifier).")] = "529900QLEDGERDEMO042",
    member: Annotated[list[str] | None, typer.Option(help="Limit to these members' records (repeat).")] = None,
    product: Annotated[list[str] | None, typer.Option(help="Limit to these products (repeat).")] = None,
) -> None:
    """CSRD/ESRS, GRI, SASB and TCFD disclosures whose every figure links to anchored evidence."""
    from esg_reports import render
    from esg_reports.metrics import Period, Scope
    from esg_reports.report import Entity, build

    def run() -> None:
        with _runtime() as rt, rt.service.sessions.begin() as session:
            built = build(
                session,
                entity=Entity(entity, lei),
                period=Period.year(period),
                scope=Scope(tuple(member) if member else None, tuple(product) if product else None),
                frameworks=[f.strip() for f in framework.split(",") if f.strip()],
            )
            paths = render.write(built, out, [f.strip() for f in format.split(",") if f.strip()])
        table = Table(title=f"disclosures {period} ({', '.join(built.frameworks)})")
        for column in ("metric", "value", "records", "anchoring transactions"):
            table.add_column(column)
        for key, m in built.metrics.items():
            label = built.mapping.metrics[key]["label"]
            table.add_row(
                label, render.fmt(m.value, m.unit), str(len(m.evidence.record_ids)), str(len(m.evidence.anchors))
            )
        console.print(table)
        for kind, path in paths.items():
            console.print(f"{kind}: {path}")

    _guard(run)


@app.command()
def certificate(
    target: Annotated[str, typer.Argument(help="A record id, or a lot (its anchored public records).")],
    lang: Annotated[str, typer.Option(help="Comma-separated BCP 47 tags; English is always added.")] = "en",
    out: Annotated[Path, typer.Option(help="Where to write the certificate PDFs.")] = Path("certificates"),
    verify_base: Annotated[str, typer.Option(help="The public verification service the QR code opens.")] = (
        "https://verify.qledger.example"
    ),
    workers: Annotated[int, typer.Option(min=1, max=16, help="Rendering processes for a lot.")] = 2,
) -> None:
    """Conformity certificates (W3C VC 2.0 embedded in PDF/A-3b, QR code), anchored on chain."""
    from esg_reports import certificates

    def run() -> None:
        with _runtime() as rt:
            ids = certificates.records_of(rt.service, target)
            langs = [x.strip() for x in lang.split(",") if x.strip()]
            issued = certificates.issue(rt.service, ids, langs, verify_base, workers=workers)
        out.mkdir(parents=True, exist_ok=True)
        for cert in issued:
            path = out / f"certificate-{cert.record_id[:16]}.pdf"
            path.write_bytes(cert.pdf)
            console.print(f"{path} ({cert.embedded['credential']['credentialSubject']['assessment']['report_id']})")
        console.print(f"{len(issued)} certificate(s), anchored in {issued[0].embedded['anchor']['txHash']}")

    _guard(run)


model_app = typer.Typer(help="The inference bridge's model registry.")
app.add_typer(model_app, name="model")


@model_app.command("register")
def model_register(
    card: Annotated[Path, typer.Argument(help="A model card JSON (e.g. inference_bridge/models/*.card.json).")],
    acting: AsMember = "LAB-SZ",
) -> None:
    """Anchor a model card; the bridge then runs only the ONNX file whose SM3 the card names."""
    from inference_bridge import registry

    def run() -> None:
        with _runtime() as rt:
            card_id = registry.register(rt.service, json.loads(card.read_text()), member=acting)
            console.print(f"model card {card_id} anchored")

    _guard(run)


@app.command()
def inspect(
    directory: Annotated[Path, typer.Argument(help="A folder of EL cell images (PNG).")],
    model: Annotated[str, typer.Option(help="An anchored model card: its id, name or name@version.")],
    rules: Annotated[Path | None, typer.Option(help="A rules file (YAML) mapping decisions to actions.")] = None,
    acting: AsMember = "LAB-SZ",
) -> None:
    """Inspect every image with an anchored model; each decision becomes an anchored ai_inspection record."""
    from inference_bridge import registry
    from inference_bridge import rules as rulebook
    from inference_bridge.pipeline import Inspector

    def run() -> None:
        paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif"))
        if not paths:
            raise LedgerError(f"no images in {directory}")
        with _runtime() as rt:
            card_id, card, onnx = registry.load(rt.service, model)
            demo = Demo(rt.service, rt.keys)
            demo.load_calibrations(rt.certificates)
            with _bar() as bar:
                task = bar.add_task("inspect", total=len(paths))
                decisions = Inspector(rt.service, onnx, card_id, card, demo.inspection_envelope, actor=acting).run(
                    paths, progress=lambda n: bar.advance(task, n)
                )
                anchor = bar.add_task("anchor", total=None)
                anchored = rt.service.anchor_pending(actor=acting, progress=lambda n: bar.advance(anchor, n))
                bar.update(anchor, total=anchored, completed=anchored)
            counts = {k: sum(d.decision == k for d in decisions) for k in ("pass", "fail", "review")}
            console.print(
                f"{len(decisions)} image(s) with {card['name']} v{card['version']} ({onnx.runtime}): {counts}"
            )
            if rules is not None:
                actions = rulebook.evaluate(rulebook.load(rules), decisions)
                rulebook.execute(rt.service, actions, actor=acting)
                for a in actions:
                    console.print(f"rule {a.rule}: {a.action} {a.target} ({len(a.record_ids)} decision(s))")

    _guard(run)
