"""`qledger serve`: the HTTP API and its anchoring worker until SIGTERM (systemd, containers) or SIGINT.

On either signal the server stops accepting, finishes what it holds (bounded), stops the anchoring worker,
then the runtime is closed, which stops the local chain node (if this process started it) and waits for it to
write its state; the process then exits 0. A signal while the runtime is still starting unwinds the start the
same way. uvicorn's own signal handling is kept while it serves: it restores the handlers found on entry and
re-raises the signal it caught, which lands in the handler here instead of killing the process before the
runtime is closed.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import FrameType

from ledger_service.runtime import Runtime

log = logging.getLogger("qledger.serve")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Open requests get this long to finish after a stop signal; systemd's default stop timeout is 90 s, and the
# worker and the chain node still need their turn after it.
GRACEFUL_S = 10
ARRIVALS_FILE = "api-arrivals.jsonl"  # requests in flight (api/arrivals.py), in the data directory


class _Stopped(BaseException):
    """A stop signal before the server was up (a BaseException, like KeyboardInterrupt: nothing catches it on
    the way out, and every context on the way is closed)."""


def serve(
    open_runtime: Callable[[], AbstractContextManager[Runtime]],
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    graceful_s: int = GRACEFUL_S,
) -> None:
    """Open the runtime, serve the API on host:port until SIGTERM or SIGINT, then close everything in order.

    Call it from the main thread (signal handlers can only be set there). Startup failures propagate: uvicorn
    exits with SystemExit when it cannot bind or the app fails to start, after the runtime has been closed."""
    import uvicorn

    from ledger_service.api.main import create_app
    from ledger_service.api.observability import json_logging
    from ledger_service.station import load_profile

    json_logging()
    server: uvicorn.Server | None = None
    unwinding = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal unwinding
        name = signal.Signals(signum).name
        if server is not None:  # serving, or stopping after uvicorn re-raised the signal it caught
            server.should_exit = True
            return
        if unwinding:  # the start is already being undone: let the node write its state
            log.info("%s again while stopping; still stopping", name)
            return
        unwinding = True
        log.info("%s while starting; stopping", name)
        raise _Stopped(name)

    in_main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS} if in_main else {}
    try:
        with open_runtime() as rt:
            profile = load_profile(rt.settings.data_dir)
            app = create_app(
                rt.service,
                keys=rt.keys,
                certificates=rt.certificates,
                profile=profile,
                arrivals=rt.settings.data_dir / ARRIVALS_FILE,
            )
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=graceful_s,
            )
            server = uvicorn.Server(config)
            server.run()
            log.info("the API and its worker have stopped; closing the runtime")
        log.info("stopped")
    except _Stopped:
        log.info("stopped before serving")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
