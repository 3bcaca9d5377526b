"""Inference in a child process. Decoding, preprocessing and the session run mostly outside the GIL, but each
call must win the GIL back; in one process with the recorder (pure Python: validation, canonical JSON, SQL)
every return waited for the recorder's time slice, and inference ran at a fraction of its speed alone. A child
has a GIL of its own: it infers on one core while the parent records on the other.

The child gets the model as the verified ONNX bytes (ModelSpec), reads and decodes each image itself and sends
back, with the predictions, the SHA-256 of the bytes it decoded; the parent reads the files too and refuses any
whose bytes differ, so the digests recorded are of exactly what the model saw. (Sending the images themselves
back cost 4% of the inference time, most of it waiting for the parent's GIL to drain the socket.)"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inference_bridge.preprocess import Image
from inference_bridge.runtime import ModelSpec, OnnxModel, Prediction
from ledger_service.digests import Digests, digest_bytes
from ledger_service.errors import LedgerError

Result = tuple[list[bytes], list[Prediction]]  # the images' bytes and the model's predictions


class InferenceWorker:
    """A child process holding one ONNX Runtime session: `submit` batches of image paths (several ahead, so
    that it never waits for the parent), then take their `result`s in the same order. The child is a fresh
    interpreter running this module (not multiprocessing's spawn, which would re-run the caller's script). Its
    answers are small (digests and predictions): they wait in the socket's buffer until taken."""

    def __init__(self, spec: ModelSpec) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "inference_bridge.worker", str(theirs.fileno())], pass_fds=[theirs.fileno()], env=env
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._in_flight = 0
        try:
            self._conn.send(spec)
            self.runtime = str(self._receive())
        except BaseException:
            self.close()
            raise

    def submit(self, paths: list[Path]) -> None:
        self._conn.send([str(p) for p in paths])
        self._in_flight += 1

    def result(self, paths: list[Path]) -> tuple[list[bytes], list[Digests], list[Prediction]]:
        """The next batch's predictions, with the bytes of its images (read here) and their digests, checked
        to be the bytes the model saw."""
        if not self._in_flight:
            raise LedgerError("no batch submitted to the inference worker")
        self._in_flight -= 1
        seen, predictions = self._receive()
        raws = [p.read_bytes() for p in paths]
        digests = [digest_bytes(raw) for raw in raws]
        for path, digest, sha256 in zip(paths, digests, seen, strict=True):
            if digest.sha256 != sha256:
                raise LedgerError(f"{path.name}: the file changed while it was inspected; inspect it again")
        return raws, digests, predictions

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._conn.send(None)
                self._process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._conn.close()

    def __enter__(self) -> InferenceWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _receive(self) -> Any:
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self._process.wait(10)
            raise LedgerError(f"the inference process ended (exit code {self._process.returncode})") from None
        if kind == "error":
            raise LedgerError(str(payload))
        return payload


def decode(name: str, raw: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise LedgerError(f"{name}: not an image OpenCV can decode")
    return np.asarray(image, np.uint8)


def infer(model: OnnxModel, paths: list[Path]) -> Result:
    """Read, decode and infer a batch of images (in this process)."""
    raws = [p.read_bytes() for p in paths]
    return raws, model.predict([decode(p.name, raw) for p, raw in zip(paths, raws, strict=True)])


def serve(conn: Connection) -> None:
    """The child's loop: a ModelSpec first, then batches of paths until None (or the parent is gone)."""
    try:
        spec: ModelSpec = conn.recv()
        if spec.threads:  # as many threads for OpenCV as for the session: the parent needs the other core
            cv2.setNumThreads(spec.threads)
        model = OnnxModel.from_spec(spec)
    except EOFError:
        return
    except Exception as error:  # a model ONNX Runtime refuses: say why, then stop
        conn.send(("error", f"ONNX Runtime cannot open the model: {error}"))
        return
    conn.send(("ready", model.runtime))
    while True:
        try:
            batch = conn.recv()
        except EOFError:
            return
        if batch is None:
            return
        try:
            raws, predictions = infer(model, [Path(p) for p in batch])
            conn.send(("ok", ([hashlib.sha256(r).digest() for r in raws], predictions)))
        except Exception as error:
            conn.send(("error", str(error)))


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
