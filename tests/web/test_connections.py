"""`digitpad serve`'s HTTP protocol: uvicorn's httptools protocol with the head limits of the app's settings.

It subclasses a private uvicorn class, so these tests drive a real instance of it through the calls
uvicorn makes: a uvicorn release that moves any part it relies on fails here, loudly, not in production.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
import uvicorn
from fastapi.testclient import TestClient
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.main import create_app
from app.web.connections import HEAD_LIMITS, HeadLimitedProtocol, HeadLimits
from tests.factories import make_settings

OVERRIDDEN = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_headers_complete",
    "on_message_complete",
)


class Transport(asyncio.Transport):
    """Keeps what the protocol writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def test_the_uvicorn_internals_it_relies_on_are_there():
    for name in OVERRIDDEN:
        assert name in vars(HttpToolsProtocol), f"uvicorn's HttpToolsProtocol no longer defines {name}"
    parameters = list(inspect.signature(HttpToolsProtocol.__init__).parameters)
    assert parameters[:4] == ["self", "config", "server_state", "app_state"], parameters


async def connected(limits: HeadLimits) -> tuple[HeadLimitedProtocol, Transport]:
    config = uvicorn.Config(create_app(make_settings()), http=HeadLimitedProtocol, log_level="critical")
    config.load()
    protocol = HeadLimitedProtocol(config, ServerState(), {HEAD_LIMITS: limits}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    assert protocol.cycle is None and protocol.transport is transport
    return protocol, transport


def test_a_head_over_the_limit_is_answered_431_and_closed():
    async def main() -> Transport:
        protocol, transport = await connected(HeadLimits(max_bytes=200, timeout=5))
        protocol.data_received(b"GET /healthz?" + b"a" * 150)
        assert transport.written == b""  # under the limit so far
        protocol.data_received(b"a" * 100 + b" HTTP/1.1\r\n")
        return transport

    transport = asyncio.run(main())
    assert transport.written.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b'"code":"request_header_too_large"' in transport.written and transport.closed


def test_a_head_that_does_not_arrive_in_time_is_answered_408():
    async def main() -> Transport:
        protocol, transport = await connected(HeadLimits(max_bytes=1000, timeout=0.05))
        protocol.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        await asyncio.sleep(0.2)
        return transport

    transport = asyncio.run(main())
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and transport.closed


@pytest.mark.parametrize(("max_bytes", "timeout"), [(1234, 3.0), (65536, 10.0)])
def test_the_limits_are_the_apps_own_settings(max_bytes, timeout):
    with TestClient(create_app(make_settings(max_head_bytes=max_bytes, head_timeout=timeout))) as client:
        assert client.app_state[HEAD_LIMITS] == HeadLimits(max_bytes, timeout)
