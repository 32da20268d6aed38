"""`digitpad serve` as a child process on a free loopback port, for the tests and benchmarks that need a
real server: finding the port, waiting until it answers, and stopping it."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
import urllib.request

HOST = "127.0.0.1"


class ServerDidNotStart(RuntimeError):
    """The server exited, or did not answer in time, before it was ready."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until_ready(process: subprocess.Popen, url: str, timeout: float) -> None:  # type: ignore[type-arg]
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


def stop(process: subprocess.Popen, timeout: float = 20) -> None:  # type: ignore[type-arg]
    """SIGTERM, and SIGKILL if the server has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
