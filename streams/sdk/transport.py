"""Kept-alive HTTP/1.1 POSTs to one origin: the only HTTP the IM client speaks.

Why not aiohttp's ``ClientSession``: a worker at half its top rate sends ~1,100 requests/s, and
the session's generic request path (URL building, header multidicts, payload objects, tracing
hooks, timer handles, stream readers) cost the client ~310 us of CPU per ``mark_contact``
against 145-176 us with this module, measured on loopback (bench/PROFILE.md, "The IM client's
own HTTP pool"): about a sixth of a core that the windows need. The client only ever POSTs a
small JSON body to one origin and reads a small JSON answer, so this module does just that,
with the answer parsed by ``httptools`` (llhttp, the parser of Node.js and uvicorn): status
line, headers, Content-Length or chunked bodies and keep-alive, by the parser rather than by
hand. An answer framed by neither (a body that ends with the connection) is refused: a cut one
could not be told from a whole one.

What it keeps from a full client: TLS with the system's trust store and hostname checks, a
bounded pool (``max_connections``), one total timeout per request that covers waiting for a
connection, connecting, sending and reading, a size limit on the answer (head included), idle
connections retired after IDLE_S, and a connection never reused after anything odd (a timeout,
a cancellation, a parse error, an answer that asks to close, stray bytes). What it leaves out on
purpose: redirects (never followed: a Location could carry the UserSig elsewhere), cookies,
proxies, compression (it asks for ``identity``), and HTTP/2.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import urlsplit

import httptools

#: Nothing but these characters reaches the request line, so no input can split the request
#: (a regular expression: ~2 us per request where a frozenset superset check took ~8).
_TARGET: Final = re.compile(r"/[A-Za-z0-9\-._~%/?&=+!$'()*,;:@]*")
#: What an answer may carry beyond its body's limit: status line, headers, chunk lines.
HEAD_LIMIT: Final = 64 * 1024
#: A connection idle longer than this is closed instead of reused (aiohttp's default too):
#: servers and NATs drop idle connections, and a request sent on one the far side already
#: forgot fails, or hangs until the timeout when nothing answers at all.
IDLE_S: Final = 15.0
#: Statuses whose answers never have a body, so they need no length (RFC 9112, 6.3).
_NO_BODY: Final = frozenset((204, 304))


def is_request_target(text: str) -> bool:
    """Whether ``text`` is an absolute path (and query) the request line can carry as it is."""
    return _TARGET.fullmatch(text) is not None


class TransportError(Exception):
    """No usable HTTP answer: the connection failed, broke, or the answer was not HTTP."""


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP answer, or its first ``limit`` bytes and ``too_large`` when it was more."""

    status: int
    body: bytes
    too_large: bool = False


class _Exchange(asyncio.Protocol):
    """One connection: sends a request, parses its answer with llhttp, reports when it ends.

    The parser calls the ``on_*`` methods while ``data_received`` feeds it, so the answer is
    assembled without copying past the body chunks themselves.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[Response] | None = None
        self._chunks: list[bytes] = []
        self._size = 0  # body bytes kept
        self._received = 0  # all bytes of this answer, head and framing included
        self._framed = False  # Content-Length or Transfer-Encoding seen in this answer
        self.reusable = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the connection's framing cannot be trusted
            return
        self._received += len(data)
        if self._received > self._limit + HEAD_LIMIT:
            self._fail(TransportError("the answer is larger than the client reads"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(TransportError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"malformed HTTP answer ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(TransportError("the server closed the connection before its answer ended"))

    # httptools callbacks

    def on_header(self, name: bytes, _value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if not self._framed and status >= 200 and status not in _NO_BODY:
            # Its body would end with the connection, and a connection cut by a reset or by a
            # TLS peer leaving without close_notify looks the same: a cut answer would pass as
            # whole. An HTTP/1.1 server frames its answers, and the IM API does.
            self._fail(
                TransportError(f"HTTP {status} answer without Content-Length or chunks refused")
            )

    def on_body(self, body: bytes) -> None:
        if self._answer is None or self._answer.done():
            return  # past the limit, or refused: the rest is not kept
        if self._size + len(body) > self._limit:
            self._chunks.append(body[: self._limit - self._size + 1])
            self._finish(too_large=True)
            return
        self._chunks.append(body)
        self._size += len(body)

    def on_message_begin(self) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # a second answer to one request: the framing cannot be trusted

    def on_message_complete(self) -> None:
        if self._answer is None or self._answer.done():
            return
        if 100 <= self._parser.get_status_code() < 200:
            self._chunks, self._size, self._framed = [], 0, False
            return  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        self.reusable = self._parser.should_keep_alive()
        self._finish()

    # the client's side

    @property
    def open(self) -> bool:
        """Connected and idle between answers (the server may still close it at any moment)."""
        return self._transport is not None and not self._transport.is_closing()

    async def exchange(self, request: bytes) -> Response:
        """Send ``request`` and wait for its whole answer (the caller bounds the wait)."""
        if self._transport is None:
            raise TransportError("the server closed the connection")
        self._answer = asyncio.get_running_loop().create_future()
        self._chunks, self._size, self._received, self._framed = [], 0, 0, False
        self.reusable = False
        self._transport.write(request)
        return await self._answer

    def close(self) -> None:
        """Drop the connection at once; an answer still awaited fails with ``TransportError``."""
        self._fail(TransportError("the connection was closed"))

    def _finish(self, *, too_large: bool = False) -> None:
        if self._answer is not None and not self._answer.done():
            status = self._parser.get_status_code()
            self._answer.set_result(Response(status, b"".join(self._chunks), too_large))
        if too_large:
            self.close()  # the rest of the body is never read, so the connection is spent

    def _fail(self, error: TransportError) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.reusable = False
        if self._transport is not None:
            transport, self._transport = self._transport, None
            transport.abort()  # no lingering half-read answer can confuse a reuse


class HTTPPool:
    """Up to ``max_connections`` kept-alive connections to the origin of ``base_url``.

    One instance per client and event loop. ``post`` waits for a free connection when all are
    busy, so the pool also bounds the requests in flight, as aiohttp's connector limit did.
    """

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int,
        timeout_s: float,
        max_body: int,
        user_agent: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http:// or https:// URL")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._prefix = parts.path.rstrip("/")
        self._head_end = (
            f"Host: {parts.netloc}\r\nUser-Agent: {user_agent}\r\n"
            "Accept: application/json\r\nAccept-Encoding: identity\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode("ascii")
        self._timeout_s = timeout_s
        self._max_body = max_body
        self._clock = clock
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[tuple[float, _Exchange]] = []  # (idle since, connection)
        self._busy: set[_Exchange] = set()
        self._closed = False

    async def post(self, target: str, body: bytes) -> Response:
        """POST ``body`` (JSON) to ``target`` (path and query, already percent-encoded).

        Raises ``TransportError`` (or ``OSError`` from connecting) when no HTTP answer came, and
        ``TimeoutError`` when none came within the timeout; any HTTP status is an answer.
        """
        if self._closed:
            raise TransportError("the client is closed")
        target = self._prefix + target
        if not is_request_target(target):
            raise ValueError("the request target must be a percent-encoded absolute path")
        request = b"".join(
            (
                f"POST {target} HTTP/1.1\r\n".encode("ascii"),
                self._head_end,
                str(len(body)).encode("ascii"),
                b"\r\n\r\n",
                body,
            )
        )
        async with asyncio.timeout(self._timeout_s), self._slots:
            connection = await self._connection()
            if self._closed:  # closed while this request waited for a slot or connected
                connection.close()
                raise TransportError("the client is closed")
            self._busy.add(connection)
            try:
                response = await connection.exchange(request)
            except BaseException:
                connection.close()  # timed out, cancelled or broken: its framing is unknown
                raise
            finally:
                self._busy.discard(connection)
        if connection.reusable and not self._closed:
            self._idle.append((self._clock(), connection))
        else:
            connection.close()
        return response

    async def _connection(self) -> _Exchange:
        """The most recently used idle connection still open and fresh, or a new one."""
        while self._idle:
            since, connection = self._idle.pop()
            if connection.open and self._clock() - since <= IDLE_S:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Exchange(self._max_body),
            self._host,
            self._port,
            ssl=self._tls,
            server_hostname=self._host if self._tls is not None else None,
        )
        return connection

    async def close(self) -> None:
        """Close every connection; requests in flight fail with ``TransportError``."""
        self._closed = True
        for connection in (*(c for _, c in self._idle), *self._busy):
            connection.close()
        self._idle.clear()
