"""The `qledger` command line."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger_service.config import Settings
from ledger_service.errors import LedgerError

app = typer.Typer(help="qledger: quality records validated, SM3-hashed, pinned and anchored on a consortium chain.")
console = Console()


def _fail(message: str) -> None:
    """One readable line on stderr and a non-zero exit."""
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code=1)


@app.command()
def demo(
    records: Annotated[
        int, typer.Option(help="How many records to ingest (at least 1,000 for the full story).")
    ] = 1000,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the demo's state here (default: a temporary directory).")
    ] = None,
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

            report = run_demo(runtime.service, runtime.keys, count=records, progress=tick)
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
        cases.add_column(column)
    for case in report.cases:
        cases.add_row(*case)
    console.print(cases)
    if report.verified_valid != report.verified_total or any(
        "wrong" in c[2] or "not caught" in c[2] for c in report.cases
    ):
        _fail("the demo found a record that did not verify or a fault that was not caught")


@app.command("verify")
def verify_bundle(
    bundle: Annotated[Path, typer.Argument(help="A proof bundle written by `qledger proof`.")],
    rpc: Annotated[str, typer.Option(help="Any JSON-RPC node of the consortium chain.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the fragments as JSON.")] = False,
) -> None:
    """Verify a proof bundle against a node of the chain, with no qledger database."""
    from ledger_service.chain.jsonrpc import JsonRpcChainClient
    from ledger_service.chain.web3_client import ChainReader
    from ledger_service.verification import is_valid, read_bundle, verify

    try:
        evidence, deployment = read_bundle(json.loads(bundle.read_text()))
        client = JsonRpcChainClient(rpc)
        client.attach(deployment)
    except (OSError, ValueError, LedgerError) as error:
        _fail(f"{bundle}: {error}")
        return
    fragments = verify(evidence, ChainReader(client))
    ok = is_valid(fragments)
    if as_json:
        console.print_json(json.dumps({"valid": ok, "fragments": [f.to_json() for f in fragments]}))
    else:
        table = Table(title=f"record {evidence.record_id[:16]}...: {'VALID' if ok else 'NOT VALID'}")
        for column in ("check", "type", "status", "reason"):
            table.add_column(column)
        for f in fragments:
            reason = f"{f.reason['code']}: {f.reason['message']}" if f.reason else ""
            table.add_row(f.name, f.type, str(f.status), reason)
        console.print(table)
    if not ok:
        raise typer.Exit(code=2)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
