"""HTTP/1.1 connections as `digitpad serve` runs them: uvicorn's httptools protocol with limits on the request
head, which uvicorn leaves open.

httptools buffers a header however long it grows, so one request could fill a worker's memory; and
uvicorn times out only idle keep-alive connections, so a new connection that sends nothing, or a head
that trickles in a byte at a time, would stay open for good. Here the request line and headers must
fit in DIGITPAD_MAX_HEAD_BYTES (else 431 `request_header_too_large`) and arrive within
DIGITPAD_HEAD_TIMEOUT seconds of the connection opening or the request starting (else 408
`request_timeout`, or a plain close for a connection that has sent nothing).

The limits are the app's own settings: its lifespan hands them to uvicorn as the app state every
connection sees (`HEAD_LIMITS`), so `create_app(settings)` decides them like every other limit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings
from app.web.errors import STATUS
from app.web.middleware import SECURITY_HEADERS

HEAD_LIMITS = "digitpad.head_limits"  # the key of the limits in the app state uvicorn keeps


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    timeout: float

    @classmethod
    def of(cls, settings: Settings) -> HeadLimits:
        return cls(settings.max_head_bytes, settings.head_timeout)


DEFAULT_LIMITS = HeadLimits.of(Settings.model_construct())  # for an app whose lifespan set none


class HeadLimitedProtocol(HttpToolsProtocol):
    _head_timer: asyncio.TimerHandle | None = None
    _in_head = True  # the next bytes are a request line and headers
    _head_bytes = 0
    _head_tail = b""  # the last bytes seen, in case the blank line ending the head is split

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.app_state.get(HEAD_LIMITS, DEFAULT_LIMITS)
        self._max_head_bytes = limits.max_bytes
        self._head_timeout = limits.timeout
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # the next request on a kept-alive connection
            self._start_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._head_tail = True, 0, b""

    def data_received(self, data: bytes) -> None:
        if self._in_head:  # counted before the parser sees it, which would buffer it all
            window = self._head_tail + data
            end = window.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(end + 4 - len(self._head_tail), 0)
            self._head_tail = window[-3:]
            if self._head_bytes > self._max_head_bytes:
                self._refuse(
                    "request_header_too_large",
                    f"The request line and headers are larger than {self._max_head_bytes:,} bytes; "
                    "send a shorter URL and fewer or smaller headers.",
                )
                return
        super().data_received(data)

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes == 0 and self.cycle is None:
            self.transport.close()  # a connection that never said anything gets no answer
            return
        self._refuse(
            "request_timeout",
            f"The request headers did not arrive within {self._head_timeout:g} seconds; send the "
            "request again in one go.",
        )

    def _refuse(self, code: str, detail: str) -> None:
        self._stop_head_timer()
        status = HTTPStatus(STATUS[code])
        body = orjson.dumps({"detail": detail, "code": code})
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "close",
            **SECURITY_HEADERS,
        }
        head = f"HTTP/1.1 {status.value} {status.phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.transport.write(head.encode("latin-1") + b"\r\n" + body)
        self.transport.close()
