"""`digitpad serve` as a child process on a free loopback port, for the tests and benchmarks that need a
real server: the only place one is started, waited for and stopped."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90


class ServerDidNotStart(RuntimeError):
    """The server exited, or did not answer in time, before it was ready; the message ends with its log."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    scratch: Path | None = None  # a data folder made for it, removed when it stops

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        """Everything the server has written so far, stdout and stderr."""
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start(
    env: Mapping[str, str] | None = None,
    workers: int | None = None,
    log: Path | None = None,
    ready: str = "/readyz",
    timeout: float = START_TIMEOUT_S,
) -> Server:
    """`python -m app serve` with `env` added to this process's environment, once GET `ready` answers 200.

    Its output goes to `log` (a temporary file by default); what it writes, to a scratch data folder unless
    `env` names one (DIGITPAD_DATA_DIR). Raises ServerDidNotStart, with the log.
    """
    port = free_port()
    scratch = None
    if "DIGITPAD_DATA_DIR" not in (env or {}):
        scratch = Path(tempfile.mkdtemp(prefix="digitpad-server-data-"))
        env = {**(env or {}), "DIGITPAD_DATA_DIR": str(scratch)}
    if log is None:
        handle, name = tempfile.mkstemp(prefix="digitpad-server-", suffix=".log")
        os.close(handle)
        log = Path(name)
    command = [sys.executable, "-m", "app", "serve", "--host", HOST, "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, port, log, scratch)
    try:
        wait_until_ready(process, server.url + ready, timeout)
    except ServerDidNotStart as exc:
        stop(server)
        raise ServerDidNotStart(f"{exc}:\n{server.output()}") from exc
    return server


@contextmanager
def running(**kwargs: object) -> Iterator[Server]:
    """A server from `start(**kwargs)` for the length of the block, stopped after it."""
    server = start(**kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop(server)


def wait_until_ready(process: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    """Returns once GET `url` answers 200. Raises ServerDidNotStart if the process exits first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, http.client.HTTPException):  # not listening yet, or 503 while models load
            pass
        if time.monotonic() > deadline:
            raise ServerDidNotStart(f"the server did not answer {url} within {timeout:g} s")
        time.sleep(0.2)
    raise ServerDidNotStart(f"the server exited with {process.returncode}")


def stop(server: Server, timeout: float = 20) -> int:
    """SIGTERM, and SIGKILL if the server has not exited within `timeout` seconds; its exit status."""
    server.process.terminate()
    try:
        return server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return server.process.wait()
    finally:
        if server.scratch is not None:
            shutil.rmtree(server.scratch, ignore_errors=True)
