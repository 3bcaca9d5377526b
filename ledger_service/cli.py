"""The `qledger` command line: thin commands over the application layer (LedgerService and its modules).

Heavy modules (web3, SQLAlchemy, WeasyPrint, ONNX Runtime) are imported inside the commands that use them, so
`qledger --help` and `qledger --version` answer at once. Exit codes (also in the README):

0 success (for `verify`: VALID) · 1 error: refused input, a refusal by the chain, anything that went wrong ·
2 usage error (Click's) · 3 not valid: the evidence says no (an INVALID check), or a recall unlock opened
nothing · 4 could not tell: a node or store is unreachable (for `verify`: a check ended in ERROR) ·
130 interrupted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

    from ledger_service.runtime import Runtime
    from ledger_service.service import AttachmentFile
    from ledger_service.station import Profile
    from ledger_service.verification import Fragment


class Exit(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2  # Click's own, for a bad option or argument
    NOT_VALID = 3
    UNDETERMINED = 4
    INTERRUPTED = 130


def _version(value: bool) -> None:
    if value:
        from ledger_service import __version__

        typer.echo(f"qledger {__version__}")
        raise typer.Exit()


app = typer.Typer(
    help="qledger: quality records validated, SM3-hashed, pinned and anchored on a consortium chain.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)  # ids and paths stay on one line, whatever the terminal width
err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """qledger: quality records validated, SM3-hashed, pinned and anchored on a consortium chain."""


class Failed(Exception):
    """A command's one-line failure (printed as `error: ...`, exit 1)."""


def _fail(message: str, code: int = Exit.ERROR) -> None:
    """One readable line on stderr and a non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def _settings() -> Any:
    from ledger_service.config import Settings

    return Settings()


def _has_consortium(data_dir: Path) -> bool:
    from ledger_service.runtime import DEPLOYMENT_FILE

    return (data_dir / DEPLOYMENT_FILE).is_file()


@contextmanager
def _runtime(need_consortium: bool = True) -> Iterator[Runtime]:
    """Settings from QLEDGER_*; without a chain URL, a local anvil keeps the chain in the data directory. A
    command that needs a consortium refuses before it creates anything when the data directory holds none."""
    from ledger_service.errors import LedgerError
    from ledger_service.localnode import local_chain
    from ledger_service.runtime import load_deployment, open_runtime

    settings = _settings()
    if need_consortium and not _has_consortium(settings.data_dir):
        raise LedgerError(f"no consortium in {settings.data_dir}: run `qledger init` first (or set QLEDGER_DATA_DIR)")
    with ExitStack() as stack:
        if settings.chain_url is None:
            settings.chain_url = stack.enter_context(local_chain(settings.data_dir))
        runtime = open_runtime(settings)
        stack.callback(runtime.engine.dispose)
        load_deployment(runtime)
        yield runtime


def _profile(runtime: Runtime) -> Profile:
    from ledger_service.errors import LedgerError
    from ledger_service.station import PROFILE_FILE, load_profile

    profile = load_profile(runtime.settings.data_dir)
    if profile is None:
        raise LedgerError(f"no {PROFILE_FILE} in {runtime.settings.data_dir}: `qledger init` writes one")
    return profile


def _guard(action: Callable[[], None]) -> None:
    """Runs a command; every expected failure becomes one line on stderr and exit 1."""
    from ledger_service.errors import ChainUnavailable, LedgerError, StoreUnavailable, TransactionReverted
    from ledger_service.records import RecordInvalid

    try:
        action()
    except RecordInvalid as refused:
        for fault in refused.faults:
            typer.echo(f"  {fault.path or '(record)'}: {fault.code} - {fault.message}", err=True)
        _fail(f"record refused: {len(refused.faults)} fault(s)")
    except TransactionReverted as refused:
        _fail(f"the chain refused it: {refused.code} ({refused})")
    except (ChainUnavailable, StoreUnavailable) as error:
        _fail(str(error), Exit.UNDETERMINED)
    except Failed as error:
        _fail(str(error))
    except (LedgerError, OSError, ValueError) as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail("interrupted", Exit.INTERRUPTED)


def _bar(console_: Console | None = None) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console_ or console)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------- the demo


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
    import shutil
    import tempfile

    from rich.table import Table

    from ledger_service.config import Settings
    from ledger_service.demo import run_demo
    from ledger_service.errors import LedgerError
    from ledger_service.runtime import open_runtime

    if records < 10:
        _fail("--records must be at least 10")
    temporary = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="qledger-demo-")) if data_dir is None else data_dir
    try:
        runtime = open_runtime(Settings(data_dir=directory, chain_url=None, ipfs_url=None, database_url=None))
        with _bar() as bar:
            tasks: dict[str, Any] = {}

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
        _fail("the demo found a record that did not verify or a fault that was not caught", Exit.NOT_VALID)


# ---------------------------------------------------------------------------------------------- set-up


LOCAL_SERVE_URL: Final = "http://127.0.0.1:8080"  # `qledger serve`'s default --host and --port


@app.command()
def init(
    verification_url: Annotated[
        str | None,
        typer.Option(
            help="The verification service certificates' QR codes open (editable later in profile.json). Default: "
            f"QLEDGER_PUBLIC_URL, the public address of `qledger serve`; without it {LOCAL_SERVE_URL}, where "
            "`qledger serve` listens by default (this machine only: no phone opens it)."
        ),
    ] = None,
) -> None:
    """Found a local consortium (a reference body, two labs, a manufacturer, a regulator) with calibrated
    instruments."""
    import shutil

    from ledger_service.errors import LedgerError

    settings = _settings()
    created = not settings.data_dir.exists()

    def run() -> None:
        from rich.table import Table

        from ledger_service import local_consortium
        from ledger_service.runtime import TRUST_FILE, save_deployment
        from ledger_service.station import PROFILE_FILE, load_profile, save_profile

        if _has_consortium(settings.data_dir):
            raise LedgerError(f"{settings.data_dir} already holds a consortium")
        with _runtime(need_consortium=False) as rt:
            url = verification_url or settings.public_url or LOCAL_SERVE_URL
            profile = load_profile(settings.data_dir) or local_consortium.default_profile(url)
            now = datetime.fromtimestamp(rt.service.chain.w3.eth.get_block("latest")["timestamp"], UTC)
            local_consortium.found(rt.service, rt.keys, now)
            station = local_consortium.calibrate(rt.service, profile, now)
            local_consortium.enrol_signers(rt.service, rt.keys, profile)
            policy = local_consortium.configure_escrow(rt.service, rt.keys, profile)
            save_profile(settings.data_dir, profile)
            save_deployment(rt, station.certificates)
        k = profile.escrow.k if profile.escrow else 0
        console.print(f"escrow policy {policy}: {k} agents' shares open a confidential record")
        table = Table(title=f"consortium founded in {settings.data_dir}")
        table.add_column("instrument")
        table.add_column("calibration certificate (record id)")
        for instrument, certificate in station.certificates.items():
            table.add_row(instrument, certificate)
        console.print(table)
        console.print(f"station profile: {settings.data_dir / PROFILE_FILE} (edit it to describe your lab)")
        console.print(f"certificates' QR codes open {profile.verification_url}/v1/certificates/<record id>")
        if profile.verification_url == LOCAL_SERVE_URL:
            console.print(
                "[yellow]that is this machine only: set QLEDGER_PUBLIC_URL (or --verification-url) to the address "
                "importers reach `qledger serve` at, or edit profile.json[/]"
            )
        console.print(f"trust file for verifiers: {settings.data_dir / TRUST_FILE}")

    try:
        _guard(run)
    except typer.Exit as stop:
        if stop.exit_code and created:  # a failed init leaves no half-made data directory behind
            shutil.rmtree(settings.data_dir, ignore_errors=True)
        raise


@app.command()
def example(
    record_type: Annotated[str, typer.Argument(help="el_image, tensile_test, xrf_analysis or power_measurement")],
    out_dir: Annotated[Path, typer.Option(help="Where to write the record JSON (and its image).")] = Path("."),
    member: Annotated[str, typer.Option(help="The lab whose station (profile.json) records it.")] = "LAB-SZ",
    lot: Annotated[str, typer.Option(help="The lot of the item tested.")] = "LOT-2026-11-A",
    confidential: Annotated[
        bool, typer.Option("--confidential", help="A confidential record: encrypted, its key escrowed.")
    ] = False,
) -> None:
    """Write a valid example record from a lab's station, ready for `qledger ingest`."""
    import os
    import random

    from ledger_service.errors import LedgerError
    from ledger_service.station import EXAMPLE_TYPES, Station, example_record

    def run() -> None:
        if record_type not in EXAMPLE_TYPES:
            raise LedgerError(f"record type must be one of {', '.join(EXAMPLE_TYPES)}")
        with _runtime() as rt:
            station = Station(_profile(rt).station(member)).load_calibrations(rt.service, rt.certificates)
            rng = random.Random(int.from_bytes(os.urandom(4), "big"))
            raw, files = example_record(station, record_type, rng.randrange(10**6), rng, lot=lot)
        if confidential:
            raw["confidentiality"] = "confidential"
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in files:
            (out_dir / f.name).write_bytes(f.data or b"")
            raw["attachments"] = [{"name": f.name, "media_type": f.media_type, "file": f.name}]
        path = out_dir / f"{record_type}-{raw['report_id']}.json"
        path.write_text(json.dumps(raw, indent=2) + "\n")
        console.print(str(path))

    _guard(run)


# ---------------------------------------------------------------------------------------------- records


def _record_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob("*.json"))
        elif path.is_file():
            files.append(path)
        else:
            raise Failed(f"{path}: no such file or folder")
    return files


def _read_record(path: Path) -> tuple[dict[str, Any], list[AttachmentFile]]:
    """A record file and the attachment files its "file" entries name (relative to the record file)."""
    from ledger_service.records import Fault, FaultCode, RecordInvalid
    from ledger_service.service import AttachmentFile

    try:
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise RecordInvalid([Fault("", FaultCode.NOT_JSON, f"not a JSON record: {error}")]) from None
    if not isinstance(raw, dict):
        raise RecordInvalid([Fault("", FaultCode.NOT_JSON, "not a JSON object")])
    attachments, faults = [], []
    entries = raw.get("attachments", [])
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and "file" in entry:
            location = path.parent / str(entry.pop("file"))
            if not location.is_file():
                faults.append(Fault(f"attachments.{i}.file", FaultCode.FILE_NOT_FOUND, f"no file {location}"))
                continue
            name, media = entry.get("name", location.name), entry.get("media_type", "application/octet-stream")
            attachments.append(AttachmentFile(str(name), str(media), path=location))
    if faults:
        raise RecordInvalid(faults)
    if isinstance(entries, list):
        raw["attachments"] = [e for e in entries if isinstance(e, dict) and "sm3" in e]
    return raw, attachments


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Record JSON files, or folders of them.")],
    member: Annotated[str, typer.Option(help="The submitting member (its key is in the data directory).")] = "LAB-SZ",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate every file; store and anchor nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record file on stdout.")] = False,
) -> None:
    """Validate, hash, pin, anchor and index records. Attachments: entries with a "file" path beside the JSON.
    Every file is checked; the accepted ones are anchored even when others are refused (exit 1 then)."""
    from functools import cache

    from ledger_service import rules
    from ledger_service.errors import StoreUnavailable
    from ledger_service.records import RecordInvalid
    from ledger_service.station import load_profile

    say = err_console if as_json else console
    refused = 0

    def run() -> None:
        nonlocal refused
        files = _record_files(paths)
        if not files:
            raise Failed(f"no record files (*.json) in {', '.join(map(str, paths))}")
        with _runtime() as rt, _bar(say) as bar:
            task = bar.add_task("check" if dry_run else "ingest", total=len(files))
            accepted = 0
            accredited = cache(lambda code: rt.service.is_accredited(member, code))
            profile = load_profile(rt.settings.data_dir)
            signed_types = profile.signed_record_types(member) if profile else frozenset[str]()
            for path in files:
                outcome: dict[str, Any] = {"file": str(path)}
                try:
                    raw, attachments = _read_record(path)
                    rules.check_submission(member, raw, accredited, signed_types)  # the API's rules, here too
                    if dry_run:
                        outcome.update(record_id=rt.service.check(raw, attachments), status="valid")
                    else:
                        result = rt.service.submit(raw, attachments, actor=member)
                        outcome.update(record_id=result.record_id, status="accepted" if result.created else "known")
                        accepted += 1
                except (RecordInvalid, rules.Forbidden) as error:
                    refused += 1
                    faults = (
                        [f.to_json() for f in error.faults]
                        if isinstance(error, RecordInvalid)
                        else [{"path": error.field, "code": error.code, "message": str(error)}]
                    )
                    outcome.update(status="refused", faults=faults)
                    for fault in faults:
                        typer.echo(
                            f"{path}: {fault['path'] or '(record)'}: {fault['code']} - {fault['message']}", err=True
                        )
                if as_json:
                    _print_json(outcome)
                elif "record_id" in outcome:
                    words = {"valid": "valid", "accepted": "new", "known": "already known"}[outcome["status"]]
                    console.print(f"{path}: {outcome['record_id']} ({words})")
                bar.advance(task)
            if dry_run or not accepted:
                return
            try:
                say.print(f"pinned the content of {rt.service.pin_pending()} record(s)")
            except StoreUnavailable as error:
                say.print(f"[yellow]pinning deferred ({error}); the content waits in the local spool[/]")
            anchor_task = bar.add_task("anchor", total=None)
            anchored = rt.service.anchor_pending(actor=member, progress=lambda n: bar.advance(anchor_task, n))
            bar.update(anchor_task, total=anchored, completed=anchored)
            say.print(f"anchored {anchored} record(s)")
            rt.service.anchor_audit_head(member)  # the audit trail's head, on chain with the records

    _guard(run)
    if refused:
        _fail(f"{refused} record file(s) refused")


def _state_word(status: str) -> str:
    return {"accepted": "PENDING"}.get(status, status.upper())  # dead_letter: DEAD_LETTER


@app.command()
def status(
    record_id: Annotated[str, typer.Argument(help="A record id (as `ingest` prints it) or a prefix of it.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the state and checks as JSON.")] = False,
) -> None:
    """Where a record stands: PENDING (accepted, not anchored yet), ANCHORED, REVOKED or SUPERSEDED; its tier,
    transaction, block and CID; once anchored, every verification check."""

    def run() -> None:
        from rich.table import Table

        with _runtime() as rt:
            state = rt.service.record_state(rt.service.resolve_record_id(record_id))
            fragments = rt.service.verify(state.record_id) if state.status not in ("accepted", "dead_letter") else None
            pins = rt.service.replication_of(rt.service.content_cids(state.record_id))
        word = _state_word(state.status)
        if as_json:
            _print_json(
                {
                    "record_id": state.record_id,
                    "state": word,
                    "record_type": state.record_type,
                    "lab": state.lab,
                    "confidentiality": state.confidentiality,
                    "tier": state.tier,
                    "tx_hash": state.tx_hash,
                    "block_number": state.block_number,
                    "cid": state.cid,
                    "pinned": state.pinned,
                    "replication": [
                        {
                            "cid": p.cid,
                            "peers_pinned": p.peers_pinned,
                            "replication_min": p.replication_min,
                            "state": p.state,
                        }
                        for p in pins
                    ],
                    "refusal": state.refusal,
                    "fragments": None if fragments is None else [f.to_json() for f in fragments],
                }
            )
            return
        table = Table(title=f"record {state.record_id}: {word}", show_header=False)
        table.add_row("type", f"{state.record_type} ({state.confidentiality}, lab {state.lab})")
        table.add_row("tier", state.tier or "-")
        table.add_row("transaction", state.tx_hash or "- (waiting in the anchoring queue)")
        table.add_row("block", "-" if state.block_number is None else str(state.block_number))
        table.add_row("CID", f"{state.cid or '-'} ({'pinned' if state.pinned else 'in the local spool'})")
        for p in pins:
            table.add_row(
                "replication", f"{p.cid}: {p.state}, on {p.peers_pinned} of at least {p.replication_min} nodes"
            )
        if state.refusal:
            table.add_row("refused by the contracts", f"{state.refusal} (`qledger dead-letters retry` once mended)")
        console.print(table)
        if fragments is not None:
            _fragment_table(fragments, "checks")

    _guard(run)


@app.command()
def proof(
    record_id: Annotated[str, typer.Argument(help="A record id or a prefix of it.")],
    out: Annotated[Path | None, typer.Option(help="Write the bundle here instead of standard output.")] = None,
    content: Annotated[
        bool, typer.Option(help="Carry the attachments' content (base64); --no-content names their CIDs only.")
    ] = True,
) -> None:
    """Write a self-contained proof bundle of an anchored record."""

    def run() -> None:
        with _runtime() as rt:
            bundle = rt.service.proof_bundle(rt.service.resolve_record_id(record_id), with_content=content)
            text = json.dumps(bundle, indent=2)
        if out is None:
            sys.stdout.write(text + "\n")
        else:
            out.write_text(text + "\n")

    _guard(run)


@app.command()
def revoke(
    record_id: Annotated[str, typer.Argument(help="A record id or a prefix of it.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail; its digest goes on chain).")],
    member: Annotated[str, typer.Option(help="Who revokes: the submitter, a regulator or an auditor.")] = "REG-CN",
) -> None:
    """Revoke an anchored record (ISO/IEC 17025 7.8.8)."""

    def run() -> None:
        with _runtime() as rt:
            full = rt.service.resolve_record_id(record_id)
            rt.service.revoke(full, member=member, reason=reason)
        console.print(f"revoked {full}")

    _guard(run)


# ---------------------------------------------------------------------------------------------- verification


def _fragment_table(fragments: Sequence[Fragment], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("check", "type", "status", "reason"):
        table.add_column(column)
    for f in fragments:
        reason = f"{f.reason['code']}: {f.reason['message']}" if f.reason else ""
        table.add_row(f.name, f.type, str(f.status), reason)
    console.print(table)


def _verdict(fragments: Sequence[Fragment], ok: bool) -> Exit:
    from ledger_service.verification import Status

    if ok:
        return Exit.OK
    return Exit.NOT_VALID if any(f.status is Status.INVALID for f in fragments) else Exit.UNDETERMINED


@contextmanager
def _direct_context(
    node: str, consortium: Path | None, target: Any, ipfs: str | None, skip_content: bool
) -> Iterator[Any]:
    """The context of a verifier with no data directory: a node of the chain by URL, the consortium's genuine
    contracts from its trust file (the target's own are only compared with them), content from IPFS by URL."""
    from ledger_service.chain.jsonrpc import JsonRpcChainClient
    from ledger_service.chain.web3_client import ChainReader
    from ledger_service.errors import ChainUnavailable
    from ledger_service.verification import (
        CertificateTarget,
        Context,
        UntrustedAnchor,
        genuine_deployment,
        read_trust_anchor,
    )

    client = JsonRpcChainClient(node)
    trusted = None
    if consortium is not None:
        anchor = read_trust_anchor(consortium)
        try:
            deployment = trusted = genuine_deployment(client, anchor)
        except ChainUnavailable:  # each check then says ERROR, node down: nothing is refused unseen
            deployment = trusted = anchor.unverified()
        except UntrustedAnchor as error:
            raise Failed(f"{consortium}: {error}") from None
    elif isinstance(target, CertificateTarget):
        deployment = _certificate_deployment(target.pdf, node)
    else:
        deployment = target.claimed
        if deployment is None:
            raise Failed(f"a record file names no chain: give --consortium FILE with --rpc {node}")
    if deployment is not None:
        client.attach(deployment, check_chain=False)
    yield Context(ChainReader(client), trusted, _ipfs_store(ipfs), skip_content)


def _ipfs_store(url: str | None) -> Any:
    if url is None:
        return None
    from ledger_service.store.ipfs_rpc import IpfsRpcStore

    return IpfsRpcStore(url)


def _certificate_deployment(pdf: bytes, node: str) -> Any:
    """Without a trust file: the contracts the certificate's credential names (its ledger, and the registry
    that ledger reports); None when the PDF carries no credential."""
    from esg_reports import certificates
    from ledger_service.chain.jsonrpc import JsonRpcChainClient
    from ledger_service.chain.types import Deployment

    embedded = certificates.embedded_credential(pdf) or {}
    anchor = (embedded.get("credential") or {}).get("chainAnchor")
    if not isinstance(anchor, dict) or "contract" not in anchor or "chainId" not in anchor:
        return None
    from ledger_service.errors import ChainUnavailable

    w3 = JsonRpcChainClient(node).w3
    ledger = w3.eth.contract(address=w3.to_checksum_address(anchor["contract"]), abi=_CONSORTIUM_ABI)
    zero = "0x" + "00" * 20  # the recall registry is not needed to check a certificate
    try:
        registry = ledger.functions.consortium().call()
    except Exception as error:  # web3 raises the transport's own errors for a node that does not answer
        raise ChainUnavailable(f"{node} does not answer ({type(error).__name__})") from None
    return Deployment(int(anchor["chainId"]), registry, anchor["contract"], zero, 0)


_CONSORTIUM_ABI = [
    {"type": "function", "name": "consortium", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "address"}]},
]  # fmt: skip


@app.command("verify")
def verify_command(
    target: Annotated[
        str, typer.Argument(help="A record id (or prefix), a proof bundle file, a record file, or a certificate PDF.")
    ],
    more: Annotated[
        list[Path] | None,
        typer.Argument(
            help="More certificate PDFs: all verified as one batch (what they share read once).", show_default=False
        ),
    ] = None,
    rpc: Annotated[
        str | None, typer.Option(help="Any JSON-RPC node of the chain: no data directory is needed then.")
    ] = None,
    consortium: Annotated[
        Path | None,
        typer.Option(help="The consortium's trust file (chain id and registry): the contracts to trust."),
    ] = None,
    attach: Annotated[list[Path] | None, typer.Option(help="Attachment files of the record, checked by SM3.")] = None,
    ipfs: Annotated[
        str | None, typer.Option(help="A Kubo RPC URL to fetch attachments from by CID, when not given or carried.")
    ] = None,
    skip_content: Annotated[
        bool, typer.Option(help="Do not check attachments' content (the verdict says so).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict and every check as JSON.")] = False,
) -> None:
    """Verify a record by id (index + chain), a record file, a proof bundle or a certificate PDF (any node with
    --rpc and the consortium's trust file, no database); several certificate PDFs as one batch."""
    if more:
        _verify_certificates([Path(target), *more], rpc, consortium, as_json)
        return
    result: dict[str, Any] = {}

    def run() -> None:
        from dataclasses import replace

        from ledger_service.chain.web3_client import ChainReader
        from ledger_service.errors import LedgerError
        from ledger_service.verification import (
            Context,
            RecordTarget,
            load_target,
            passes,
            verify,
        )

        settings = _settings()
        local = _has_consortium(settings.data_dir)
        contents = {p.name: _read_file(p) for p in attach or []}
        path = Path(target)
        if not path.is_file():  # a record id: the index knows where it is anchored
            if not local:
                raise Failed(
                    f"{target}: no such file, and no index at {settings.data_dir} to look a record id up in "
                    "(verify its proof bundle with --rpc URL --consortium FILE instead)"
                )
            with _runtime() as rt:
                full = rt.service.resolve_record_id(target)
                subject: Any = RecordTarget(rt.service.evidence(full, contents), "index")
                context = Context(ChainReader(rt.service.chain), rt.service.chain.deployment,
                                  _ipfs_store(ipfs) or rt.service.store, skip_content)  # fmt: skip
                result["id"], result["fragments"] = full, verify(subject, context)
            result["ok"] = passes(subject, result["fragments"])
            return
        try:
            subject = load_target(_read_file(path), contents)
        except LedgerError as error:
            raise Failed(f"{target}: {error}") from None
        direct = rpc is not None or not local  # checked against a node by URL, with no data directory
        node = rpc or settings.chain_url
        if direct:
            if node is None:
                raise Failed(f"{target}: give --rpc URL (any node of the consortium's chain) and --consortium FILE")
            with _direct_context(node, consortium, subject, ipfs, skip_content) as context:
                result["fragments"] = verify(subject, context)
        else:
            with _runtime() as rt:
                if isinstance(subject, RecordTarget) and subject.source == "file":
                    try:  # where the index knows the record, its anchor is the evidence's
                        evidence = rt.service.evidence(subject.evidence.record_id, contents)
                        subject = RecordTarget(replace(evidence, record=subject.evidence.record), "file")
                    except LedgerError:  # not in this index: the checks say what the chain says
                        pass
                trusted = _own_consortium(rt, consortium, settings.data_dir)
                store = _ipfs_store(ipfs) or rt.service.store
                context = Context(ChainReader(rt.service.chain), trusted, store, skip_content)
                result["fragments"] = verify(subject, context)
        result["id"] = getattr(getattr(subject, "evidence", None), "record_id", target)
        result["ok"] = passes(subject, result["fragments"])

    _guard(run)
    fragments, ok = result["fragments"], bool(result["ok"])
    unchecked = sorted({f.reason["code"] for f in fragments if f.reason and f.reason["code"] in _CONTENT_UNCHECKED})
    if as_json:
        body = {"id": result["id"], "valid": ok, "content_checked": not unchecked}
        _print_json({**body, "fragments": [f.to_json() for f in fragments]})
    else:
        note = f" (content not checked: {', '.join(unchecked)})" if unchecked else ""
        _fragment_table(fragments, f"{result['id'][:40]}: {'VALID' if ok else 'NOT VALID'}{note}")
    verdict = _verdict(fragments, ok)
    if verdict is not Exit.OK:
        raise typer.Exit(code=verdict)


def _own_consortium(rt: Any, consortium: Path | None, data_dir: Path) -> Any:
    """The deployment a data directory verifies against: its own consortium's. A trust file naming another
    consortium is refused naming the file, never ignored (docs/threat-model.md)."""
    from ledger_service.verification import UntrustedAnchor, genuine_deployment, read_trust_anchor

    trusted = rt.service.chain.deployment
    if consortium is not None and trusted is not None:
        try:
            named = genuine_deployment(rt.service.chain, read_trust_anchor(consortium))
        except UntrustedAnchor as error:
            raise Failed(f"{consortium}: {error}") from None
        if (named.chain_id, named.ledger.lower()) != (trusted.chain_id, trusted.ledger.lower()):
            # This data directory reads its own consortium's contracts; another one's are checked by URL.
            raise Failed(f"{consortium}: names another consortium than {data_dir}'s: verify against it with --rpc URL")
    return trusted


def _verify_certificates(paths: list[Path], rpc: str | None, consortium: Path | None, as_json: bool) -> None:
    """`qledger verify A.pdf B.pdf ...`: every PDF checked as it would be alone, on one chain reader
    (verification.verify_certificates); a table (or a JSON line) per PDF; the exit code of the worst verdict."""
    from ledger_service.chain.web3_client import ChainReader
    from ledger_service.verification import CertificateTarget, Context, passes, verify_certificates

    results: list[tuple[Path, list[Fragment], bool]] = []

    def run() -> None:
        targets = []
        for path in paths:
            data = _read_file(path)
            if not data.startswith(b"%PDF-"):
                raise Failed(f"{path}: not a certificate PDF (several targets are verified only as certificates)")
            targets.append(CertificateTarget(data))
        settings = _settings()
        node = rpc or (None if _has_consortium(settings.data_dir) else settings.chain_url)
        if rpc is not None or not _has_consortium(settings.data_dir):
            if node is None:
                raise Failed(f"{paths[0]}: give --rpc URL (any node of the consortium's chain) and --consortium FILE")
            with _direct_context(node, consortium, targets[0], None, False) as context:
                checked = verify_certificates(targets, context)
        else:
            with _runtime() as rt:  # the trust file given is checked as for one PDF (it was ignored)
                context = Context(ChainReader(rt.service.chain), _own_consortium(rt, consortium, settings.data_dir))
                checked = verify_certificates(targets, context)
        results.extend((p, f, passes(t, f)) for p, t, f in zip(paths, targets, checked, strict=True))

    _guard(run)
    verdicts = []
    for path, fragments, ok in results:
        if as_json:
            _print_json({"id": str(path), "valid": ok, "fragments": [f.to_json() for f in fragments]})
        else:
            _fragment_table(fragments, f"{path}: {'VALID' if ok else 'NOT VALID'}")
        verdicts.append(_verdict(fragments, ok))
    worst = max(verdicts, key=lambda v: (v is Exit.NOT_VALID, v is not Exit.OK))
    if worst is not Exit.OK:
        raise typer.Exit(code=worst)


# A verdict that did not look at the content a record declares says so in its headline.
_CONTENT_UNCHECKED = frozenset({"CONFIDENTIAL", "CONTENT_SKIPPED", "ATTACHMENT_NOT_PROVIDED"})


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise Failed(f"{path}: {error.strerror or error}") from None


# ---------------------------------------------------------------------------------------------- API keys

keys_app = typer.Typer(help="Members' API keys: issue, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("issue")
def issue_key(
    member: Annotated[str, typer.Argument(help="A member whose chain key is in the data directory.")],
) -> None:
    """Issue an API key for a member; it is printed once, only its SM3 is kept."""

    def run() -> None:
        with _runtime() as rt:
            key = rt.service.issue_api_key(member, actor="cli")
        sys.stdout.write(key + "\n")

    _guard(run)


@keys_app.command("list")
def list_keys(
    member: Annotated[str | None, typer.Option(help="Only this member's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """Every API key by its id (never the key itself): member, when issued, whether and when revoked."""

    def run() -> None:
        from rich.table import Table

        with _runtime() as rt:
            keys = rt.service.api_keys(member)
        if as_json:
            for key in keys:
                _print_json(key.to_json())
            return
        table = Table(title="API keys")
        for column in ("key id", "member", "issued", "revoked"):
            table.add_column(column)
        for key in keys:
            revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-"
            table.add_row(key.key_id, key.member, key.created_at.isoformat(timespec="seconds"), revoked)
        console.print(table)

    _guard(run)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id from `qledger keys list` (or 8+ of its digits).")],
    member: Annotated[str | None, typer.Option(help="Only if the key is this member's.")] = None,
) -> None:
    """Revoke an API key: the service refuses it within its 5 s cache period."""

    def run() -> None:
        with _runtime() as rt:
            key = rt.service.revoke_api_key(key_id, member=member, actor="cli")
        console.print(f"revoked API key {key.key_id} of {key.member}")

    _guard(run)


# ---------------------------------------------------------------------------------------------- dead letters

dead_app = typer.Typer(help="Records the contracts refused to anchor: list them, retry them.", no_args_is_help=True)
app.add_typer(dead_app, name="dead-letters")


@dead_app.command("list")
def dead_list(
    lab: Annotated[str | None, typer.Option(help="Only this lab's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
) -> None:
    """Records out of the anchoring queue because the contracts refused them, with the refusal."""

    def run() -> None:
        from rich.table import Table

        with _runtime() as rt:
            letters = rt.service.dead_letters(lab)
        if as_json:
            for letter in letters:
                _print_json(letter)
            return
        table = Table(title=f"dead letters: {len(letters)}")
        for column in ("record", "lab", "refusal", "since"):
            table.add_column(column, overflow="fold")
        for d in letters:
            table.add_row(d["record_id"], d["lab"], f"{d['code']}: {d['reason']}", d["at"])
        console.print(table)

    _guard(run)


@dead_app.command("retry")
def dead_retry(
    record_ids: Annotated[list[str] | None, typer.Argument(help="Record ids (or prefixes); none: every one.")] = None,
    lab: Annotated[str | None, typer.Option(help="Only this lab's.")] = None,
) -> None:
    """Put dead letters back in the anchoring queue (once what refused them is mended) and anchor them."""

    def run() -> None:
        with _runtime() as rt:
            ids = [rt.service.resolve_record_id(r) for r in record_ids] if record_ids else None
            back = rt.service.retry_dead_letters(ids, lab=lab, actor="cli")
            anchored = rt.service.anchor_pending(actor="cli") if back else 0
            left = len(rt.service.dead_letters(lab))
        console.print(f"{back} back in the queue, {anchored} anchored, {left} dead letter(s) left")

    _guard(run)


# ---------------------------------------------------------------------------------------------- the audit trail

audit_app = typer.Typer(help="The audit trail: an SM3 hash chain, its head anchored on chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False) -> None:
    """Check the whole audit trail: each entry's SM3 and link, the head, the anchored heads, the triggers; the
    first entry of each fault is named and the exit code is 3 when anything does not fit."""
    verdict: list[Any] = []

    def run() -> None:
        with _runtime() as rt:
            verdict.append(rt.service.verify_audit_trail())

    _guard(run)
    v = verdict[0]
    if as_json:
        findings = [{"entry_id": f.entry_id, "code": f.code, "message": f.message} for f in v.findings]
        _print_json({"intact": v.intact, "entries": v.entries, "head": v.head_id, "anchored_up_to": v.anchored_id,
                     "findings": findings})  # fmt: skip
    elif v.intact:
        console.print(f"audit trail intact: {v.entries} entries, head {v.head_id}, anchored up to {v.anchored_id}")
    else:
        for f in v.findings:
            typer.echo(f"entry {f.entry_id if f.entry_id is not None else '-'}: {f.code} - {f.message}", err=True)
    if not v.intact:
        raise typer.Exit(Exit.NOT_VALID)


@audit_app.command("anchor")
def audit_anchor(acting: Annotated[str, typer.Option("--as", help="The member who anchors it.")] = "LAB-SZ") -> None:
    """Anchor the audit trail's head now (the API's worker does so every minute)."""

    def run() -> None:
        with _runtime() as rt:
            entry = rt.service.anchor_audit_head(acting)
        console.print(f"audit trail anchored up to entry {entry}" if entry else "nothing new to anchor")

    _guard(run)


# ---------------------------------------------------------------------------------------------- the service


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=16, help="API processes (default: one per two CPU cores); the first anchors."),
    ] = None,
) -> None:
    """Run the HTTP API (and its anchoring worker) until SIGTERM or SIGINT, then stop both and the local chain."""
    from ledger_service import serving

    count = workers if workers is not None else serving.default_workers()
    _guard(lambda: serving.serve(_runtime, host=host, port=port, workers=count))


def main() -> None:  # pragma: no cover - console entry point
    app()


# ---------------------------------------------------------------------------------------------- signatures

operators_app = typer.Typer(
    help="A lab's electronic signers (operators, checkers, reviewers): enrol and withdraw their SM2 keys.",
    no_args_is_help=True,
)
app.add_typer(operators_app, name="operators")
LabOption = Annotated[str, typer.Option("--lab", help="The lab that enrols the person (its key is here).")]


@operators_app.command("enrol")
def operators_enrol(
    person: Annotated[str, typer.Argument(help="The person's id as records name them, e.g. op-carol.")],
    lab: LabOption = "LAB-SZ",
) -> None:
    """Enrol a person as a signer: an SM2 key made in the key directory (0600), the enrolment anchored by the
    lab and written to the audit trail (docs/formats.md section 2.1). Enrolling again changes nothing."""

    def run() -> None:
        from ledger_service import signatures

        with _runtime() as rt:
            public = signatures.enrol(rt.service, rt.keys, lab=lab, signer=person, actor=lab)
        console.print(f"enrolled {person} of {lab}: SM2 key {public.to_bytes().hex()}")

    _guard(run)


@operators_app.command("withdraw")
def operators_withdraw(
    person: Annotated[str, typer.Argument(help="The enrolled person's id.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
    lab: LabOption = "LAB-SZ",
) -> None:
    """Withdraw a signer's key: anchored by the lab (signatures made after it are INVALID), in the audit trail,
    and the key file removed."""

    def run() -> None:
        from ledger_service import signatures

        with _runtime() as rt:
            signatures.withdraw(rt.service, rt.keys, lab=lab, signer=person, actor=lab, reason=reason)
        console.print(f"withdrew {person} of {lab}")

    _guard(run)


@app.command("sign")
def sign_command(
    path: Annotated[Path, typer.Argument(help="A record file (JSON), signed in place.")],
    signer: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="The enrolled person who signs (their key is here); default: the record's operator for "
            "performed, its checker for reviewed.",
        ),
    ] = None,
    meaning: Annotated[str, typer.Option(help="performed, reviewed or approved.")] = "performed",
) -> None:
    """Sign a record file over its canonical digest with an enrolled person's SM2 key: signer, time and meaning
    (21 CFR Part 11 11.50; docs/formats.md section 2.1). Earlier signatures are kept."""

    def run() -> None:
        from ledger_service import signatures

        if meaning not in signatures.MEANINGS:
            raise Failed(f"{path}: a signature's meaning is one of {', '.join(signatures.MEANINGS)}, not {meaning!r}")
        try:
            raw = json.loads(_read_file(path))
        except ValueError as error:
            raise Failed(f"{path}: not a JSON record ({error})") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("lab"), dict):
            raise Failed(f"{path}: not a record (no lab)")
        person = signer or signatures.expected_signer(raw, meaning)
        if not person:
            raise Failed(f"{path}: name who approves it with --as")
        from ledger_service.keys import KeyStore

        keys = KeyStore(_settings().data_dir)
        try:
            # Sign the form ingest stores: attachment files beside the record resolved to their digests and
            # CIDs as `ingest` will send them (a confidential record's to their plaintext digests alone: the
            # ciphertext's CID is made at ingest and not signed); each such entry keeps its "file" so `ingest`
            # sends it again.
            read, files = _read_record(path)
            named = {_attachment_name(e): e["file"] for e in raw.get("attachments", []) if _names_file(e)}
            stored = {**read, "attachments": attachments_as_signed(read, files)}
            signed = signatures.sign_with(keys, stored, [(person, meaning)])  # type: ignore[list-item]
        except LedgerError as error:
            raise Failed(f"{path}: {error}") from None
        signed["attachments"] = [
            {**a, "file": named[a["name"]]} if a["name"] in named else a for a in signed["attachments"]
        ]
        temporary = path.with_name(path.name + ".signing")
        temporary.write_text(json.dumps(signed, ensure_ascii=False, indent=1) + "\n")
        temporary.replace(path)
        console.print(f"{path}: signed by {person} ({meaning})")

    from ledger_service.errors import LedgerError
    from ledger_service.service import attachments_as_signed

    _guard(run)


def _names_file(entry: Any) -> bool:
    """An attachment entry of a record file that names a file beside it."""
    return isinstance(entry, dict) and "file" in entry


def _attachment_name(entry: dict[str, Any]) -> str:
    """The name such an entry's attachment gets (`_read_record`: its own, else the file's)."""
    return str(entry.get("name", Path(str(entry["file"])).name))


# ---------------------------------------------------------------------------------------------- recalls

agent_app = typer.Typer(help="Escrow agents: release key shares when a recall is in force.", no_args_is_help=True)
app.add_typer(agent_app, name="agent")
recall_app = typer.Typer(help="Recalls: open, approve, status, decrypt, close.", no_args_is_help=True)
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

    def run() -> None:
        from consortium.agent import EscrowAgent

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
    chosen = [(k, v) for k, v in (("lot", lot), ("product", product), ("records", record)) if v]
    if len(chosen) != 1:
        _fail("name exactly one scope: --lot, --product or --record")

    def run() -> None:
        from consortium.recall import open_recall, recall_status

        kind, scope = chosen[0]
        with _runtime() as rt:
            recall_id = open_recall(rt.service, regulator=acting, kind=kind, scope=scope, reason=reason)
            console.print(f"recall {recall_id}: {recall_status(rt.service, recall_id)['status']}")

    _guard(run)


@recall_app.command("approve")
def recall_approve(recall_id: int, acting: AsMember) -> None:
    """Approve a proposed recall (member-quorum policy)."""

    def run() -> None:
        from consortium.recall import approve_recall, recall_status

        with _runtime() as rt:
            approve_recall(rt.service, member=acting, recall_id=recall_id)
            console.print(f"recall {recall_id}: {recall_status(rt.service, recall_id)['status']}")

    _guard(run)


@recall_app.command("status")
def recall_show(recall_id: int) -> None:
    """A recall's status and its releases."""

    def run() -> None:
        from rich.table import Table

        from consortium.recall import recall_status

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
    opened = [True]

    def run() -> None:
        from consortium.recall import decrypt_recall

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
        opened[0] = not unlock.refused and bool(unlock.decrypted)

    _guard(run)
    if not opened[0]:
        raise typer.Exit(Exit.NOT_VALID)


@recall_app.command("close")
def recall_close(recall_id: int, reason: Annotated[str, typer.Option()], acting: AsMember = "REG-CN") -> None:
    """Close a recall: no release is accepted after this."""

    def run() -> None:
        from consortium.recall import close_recall

        with _runtime() as rt:
            close_recall(rt.service, regulator=acting, recall_id=recall_id, reason=reason)
        console.print(f"recall {recall_id}: closed")

    _guard(run)


# ---------------------------------------------------------------------------------------------- disclosures

taxonomy_app = typer.Typer(
    help="XBRL taxonomy packages (the EFRAG ESRS package) for Inline XBRL.", no_args_is_help=True
)
app.add_typer(taxonomy_app, name="taxonomy")


@taxonomy_app.command("install")
def taxonomy_install(
    package: Annotated[Path, typer.Argument(help="The taxonomy package zip (e.g. EFRAG's ESRS package).")],
    sha256: Annotated[str, typer.Option(help="Its SHA-256 as the publisher states it (checked before install).")],
) -> None:
    """Install a taxonomy package: `qledger report` then tags Inline XBRL with its concepts."""

    def run() -> None:
        from esg_reports import packages

        if not package.is_file():
            raise Failed(f"{package}: no such file")
        installed = packages.install(package, sha256, _settings().data_dir / "taxonomies")
        console.print(f"installed {installed.name} {installed.version} (SHA-256 {installed.sha256})")
        console.print(f"entry point: {installed.entry_point}")

    _guard(run)


@taxonomy_app.command("list")
def taxonomy_list() -> None:
    """The installed taxonomy packages, each re-checked against its SHA-256."""

    def run() -> None:
        from esg_reports import packages

        for p in packages.installed(_settings().data_dir / "taxonomies"):
            console.print(f"{p.sha256}  {p.name} {p.version}  {p.entry_point}")

    _guard(run)


@app.command()
def report(
    framework: Annotated[
        str, typer.Option(help="Comma-separated: esrs, gri, sasb, ifrs_s2.")
    ] = "esrs,gri,sasb,ifrs_s2",
    period: Annotated[int, typer.Option(help="The reporting year.")] = datetime.now(UTC).year,
    format: Annotated[str, typer.Option(help="Comma-separated: json, html, pdf, ixbrl.")] = "pdf,ixbrl,json",
    out: Annotated[Path, typer.Option(help="Where to write the report files.")] = Path("reports"),
    entity: Annotated[str | None, typer.Option(help="The reporting entity (default: profile.json's).")] = None,
    lei: Annotated[str | None, typer.Option(help="Its ISO 17442 LEI (default: profile.json's).")] = None,
    member: Annotated[list[str] | None, typer.Option(help="Limit to these members' records (repeat).")] = None,
    product: Annotated[list[str] | None, typer.Option(help="Limit to these products (repeat).")] = None,
    sasb_industry: Annotated[str, typer.Option(help="The entity's SICS industry: RR-ST or RT-EE.")] = "RR-ST",
    unit_mass: Annotated[
        list[str] | None, typer.Option(help="PRODUCT=KG: the mass of one unit (repeat); for kg figures.")
    ] = None,
    pack: Annotated[
        Path | None,
        typer.Option(help="Also anchor the report's digest and write its re-performance pack into this folder."),
    ] = None,
    customer_pack: Annotated[
        Path | None,
        typer.Option(help="Also write the signed, anchored customer-request pack (VSME datapoints) to this file."),
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Who the customer-request pack is for.")] = None,
    signer: Annotated[
        str, typer.Option(help="The member who anchors the report's digest and signs the customer pack.")
    ] = "LAB-SZ",
    sample_wait: Annotated[
        float, typer.Option(help="Seconds to wait for the block after the anchor that seeds the audit sample.")
    ] = 30.0,
) -> None:
    """CSRD/ESRS, GRI, SASB and IFRS S2 disclosures whose every figure links to anchored evidence."""

    def run() -> None:
        from rich.table import Table

        from esg_reports import render
        from esg_reports.metrics import Inputs, Period, Scope
        from esg_reports.report import Entity, build, recalls_on_chain
        from ledger_service.errors import LedgerError

        if customer_pack is not None and not customer:
            raise LedgerError(f"{customer_pack}: name the customer the pack is for with --customer")
        masses = []
        for item in unit_mass or []:
            name, _, kg = item.partition("=")
            try:
                masses.append((name, float(kg)))
            except ValueError:
                raise LedgerError(f"--unit-mass {item!r}: give PRODUCT=KG") from None

        with _runtime() as rt:
            if (pack is not None or customer_pack is not None) and signer not in rt.service.accounts:
                raise LedgerError(f"--signer {signer}: no chain account for this member in {rt.settings.data_dir}")
            if entity is None or lei is None:
                reporting = _profile(rt).reporting_entity
                entity_name, entity_lei = entity or reporting.name, lei or reporting.lei
            else:
                entity_name, entity_lei = entity, lei
            scope = Scope(tuple(member) if member else None, tuple(product) if product else None)
            values = None
            if pack is not None:  # the pack's values, written by a child while the report is computed
                from esg_reports import facts
                from esg_reports import pack as packs

                with rt.service.sessions.begin() as session:  # what the child reads is committed
                    facts.refresh(session)
                values = packs.start_values(rt.service.sessions, scope, pack)
            try:
                with rt.service.sessions.begin() as session:  # committed before the packs below anchor and write
                    built = build(
                        session,
                        entity=Entity(entity_name, entity_lei, sasb_industry),
                        period=Period.year(period),
                        scope=scope,
                        frameworks=[f.strip() for f in framework.split(",") if f.strip()],
                        inputs=Inputs(recalls=recalls_on_chain(rt.service.chain), product_mass_kg=tuple(masses)),
                    )
                    from esg_reports import packages

                    installed = packages.installed(_settings().data_dir / "taxonomies")
                    chosen = installed[-1] if installed else None
                    formats = [f.strip() for f in format.split(",") if f.strip()]
                    paths = render.write(built, out, formats, package=chosen)
            except BaseException:
                if values is not None:
                    values.cancel()  # no pack for a report that failed
                raise
            packed = signed = None
            if pack is not None:
                from esg_reports import pack as packs

                local = _settings().chain_url is None  # the data directory's own anvil: it mines on demand
                packed = packs.anchored_pack(
                    rt.service, built, pack, member=signer, wait_s=sample_wait, mine=local, values=values
                )
            if customer_pack is not None:
                from esg_reports import customer as customers

                content = customers.document(built, customer=str(customer))
                signed = customers.sign_and_anchor(rt.service, rt.keys.sm2(signer), signer, content)
                customer_pack.parent.mkdir(parents=True, exist_ok=True)
                customer_pack.write_bytes(customers.to_json(signed))
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
        if packed is not None:
            console.print(
                f"re-performance pack: {packed['path']} (report digest anchored in {packed['anchor'].tx_hash})"
            )
            console.print(
                f"audit sample seeded from block {packed['seed'][0]}"
                if packed["seed"]
                else f"no audit sample: block {packed['anchor'].block + 1} was not mined within {sample_wait:g} s"
            )
            console.print(f"re-perform offline: python {packed['path'] / 'reperform.py'} {packed['path']}")
        if signed is not None:
            console.print(f"customer-request pack: {customer_pack} (SM3 {signed['sm3']}, anchored in "
                          f"{signed['anchor']['tx_hash']})")  # fmt: skip
        if "ixbrl" in paths:
            console.print(
                f"Inline XBRL tagged against {chosen.name} {chosen.version}"
                if chosen
                else "Inline XBRL uses qledger's own concepts: it validates but is not fileable "
                "(install the ESRS taxonomy package with `qledger taxonomy install`)"
            )

    _guard(run)


@app.command()
def certificate(
    target: Annotated[str, typer.Argument(help="A record id, or a lot (its anchored public records).")],
    lang: Annotated[str, typer.Option(help="Comma-separated BCP 47 tags; English is always added.")] = "en",
    out: Annotated[Path, typer.Option(help="Where to write the certificate PDFs.")] = Path("certificates"),
    verify_base: Annotated[
        str | None, typer.Option(help="The verification service the QR code opens (default: profile.json's).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Rendering processes for a lot.")] = 2,
) -> None:
    """Conformity certificates (W3C VC 2.0 embedded in PDF/A-3b, QR code), anchored on chain."""

    def run() -> None:
        from esg_reports import certificates

        with _runtime() as rt:
            ids = certificates.records_of(rt.service, target)
            langs = [x.strip() for x in lang.split(",") if x.strip()]
            base = verify_base or _profile(rt).verification_url
            issued = certificates.issue(rt.service, ids, langs, base, workers=workers, keys=rt.keys)
        out.mkdir(parents=True, exist_ok=True)
        for cert in issued:
            path = out / f"certificate-{cert.record_id[:16]}.pdf"
            path.write_bytes(cert.pdf)
            console.print(f"{path} ({cert.embedded['credential']['credentialSubject']['assessment']['report_id']})")
        console.print(f"{len(issued)} certificate(s), anchored in {issued[0].embedded['anchor']['txHash']}")

    _guard(run)


# ---------------------------------------------------------------------------------------------- AI inspection

model_app = typer.Typer(help="The inference bridge's model registry.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("register")
def model_register(
    card: Annotated[Path, typer.Argument(help="A model card JSON (e.g. inference_bridge/models/*.card.json).")],
    acting: AsMember = "LAB-SZ",
) -> None:
    """Anchor a model card; the bridge then runs only the ONNX file whose SM3 the card names."""

    def run() -> None:
        from inference_bridge import registry

        document = json.loads(card.read_text())
        with _runtime() as rt:
            card_id = registry.register(rt.service, document, member=acting)
        console.print(f"model card {card_id} anchored")

    _guard(run)


@app.command()
def inspect(
    directory: Annotated[Path, typer.Argument(help="A folder of EL cell images (PNG).")],
    model: Annotated[str, typer.Option(help="An anchored model card: its id, name or name@version.")],
    rules: Annotated[Path | None, typer.Option(help="A rules file (YAML) mapping decisions to actions.")] = None,
    acting: AsMember = "LAB-SZ",
    limit: Annotated[int | None, typer.Option(min=1, help="Inspect at most this many images (in name order).")] = None,
) -> None:
    """Inspect every image with an anchored model; each decision becomes an anchored ai_inspection record."""

    def run() -> None:
        from inference_bridge import registry
        from inference_bridge import rules as rulebook
        from inference_bridge.pipeline import Inspector
        from ledger_service.station import Station

        if not directory.is_dir():
            raise Failed(f"{directory}: no such folder")
        paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif"))
        paths = paths[:limit] if limit is not None else paths
        if not paths:
            raise Failed(f"no images in {directory}")
        with _runtime() as rt:
            card_id, card, onnx = registry.load(rt.service, model)
            station = Station(_profile(rt).station(acting)).load_calibrations(rt.service, rt.certificates)
            with _bar() as bar:
                task = bar.add_task("inspect", total=len(paths))
                decisions = Inspector(rt.service, onnx, card_id, card, station.inspection_envelope, actor=acting).run(
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


# ---------------------------------------------------------------------------------------------- network

network_app = typer.Typer(
    help="A local consortium network: one geth clique signer per member, the contracts, IPFS peers.",
    no_args_is_help=True,
)
app.add_typer(network_app, name="network")
NetworkDir = Annotated[Path, typer.Option("--dir", help="The network's directory (network.json).")]


@network_app.command("up")
def network_up(
    members: Annotated[int, typer.Option(min=1, help="Members, each with its node (a clique signer).")] = 4,
    directory: NetworkDir = Path("qledger-network"),
    period: Annotated[
        int | None, typer.Option(min=1, help="Block period in seconds (default 2, as the Besu configuration).")
    ] = None,
    ipfs: Annotated[bool, typer.Option("--ipfs/--no-ipfs", help="One Kubo node and cluster peer per member.")] = True,
) -> None:
    """Create and start the network (or start again the stopped nodes of the one in --dir); print each
    member's endpoints and the trust file for verifiers."""

    def run() -> None:
        from rich.table import Table

        from ledger_service.network.local import DEFAULT_PERIOD_S
        from ledger_service.network.local import network_up as up

        net = up(directory, members=members, period_s=period or DEFAULT_PERIOD_S, ipfs=ipfs, say=console.print)
        endpoints = net.endpoints()
        table = Table(title=f"network {net.chain_id} in {directory} (clique, {net.period_s} s blocks)")
        for column in ("member", "validator", "chain RPC", "Kubo API", "cluster API"):
            table.add_column(column, overflow="fold")
        for e in endpoints:
            table.add_row(e["member"], e["validator"], e["chain_rpc"], e["kubo_api"] or "-", e["cluster_api"] or "-")
        console.print(table)
        console.print(f"trust file for verifiers: {net.trust_file}")
        console.print(f"description: {directory / 'network.json'}; Besu QBFT configuration: {directory / 'besu'}")
        for e in endpoints:  # one line per member, whole (no table wrapping): what runs its service
            settings = " ".join(f"{k}={v}" for k, v in e["env"].items())
            console.print(
                f"{e['member']}: chain RPC {e['chain_rpc']}, Kubo API {e['kubo_api'] or '-'}, "
                f"cluster API {e['cluster_api'] or '-'}; as {e['member']}: {settings} qledger ..."
            )

    _guard(run)


@network_app.command("status")
def network_status(
    directory: NetworkDir = Path("qledger-network"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Each node's block height, peers and clique signers."""

    def run() -> None:
        from rich.table import Table

        from ledger_service.network.local import network_status as status_of

        state = status_of(directory)
        if as_json:
            _print_json(state)
            return
        table = Table(title=f"network {state['chain_id']}")
        for column in ("member", "pid", "block", "peers", "signers"):
            table.add_column(column)
        for n in state["nodes"]:
            if n["running"]:
                table.add_row(n["member"], str(n["pid"]), str(n["block"]), str(n["peers"]), str(len(n["signers"])))
            else:
                table.add_row(n["member"], str(n["pid"] or "-"), "down", "-", "-")
        console.print(table)
        if any(not n["running"] for n in state["nodes"]):
            raise typer.Exit(Exit.UNDETERMINED)

    _guard(run)


@network_app.command("down")
def network_down(directory: NetworkDir = Path("qledger-network")) -> None:
    """Stop every process the network started (by process id); its directory stays."""

    def run() -> None:
        from ledger_service.network.local import network_down as down

        stopped = down(directory)
        console.print(f"stopped {len(stopped)} node(s): {', '.join(stopped) or 'none was running'}")

    _guard(run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
