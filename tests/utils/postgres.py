"""A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's postgresql-15, `initdb` + `pg_ctl`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.utils.anvil import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        raise RuntimeError(f"{name} missing: install Debian's postgresql (bash .ci/install.sh)")
    return str(found)


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a cluster in a temporary directory; yield a SQLAlchemy URL; stop and remove it."""
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = tempfile.mkdtemp(prefix="qledger-pg-")
    try:
        if as_root:
            shutil.chown(base, "postgres")
        data = os.path.join(base, "data")
        port = free_port()
        run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True)  # noqa: E731
        run(_bin("initdb"), "-D", data, "-U", "qledger", "--auth=trust", "-E", "UTF8")
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(_bin("pg_ctl"), "-D", data, "-o", options, "-w", "-l", os.path.join(base, "log"), "start")
        try:
            yield f"postgresql+psycopg://qledger@127.0.0.1:{port}/postgres"
        finally:
            run(_bin("pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
