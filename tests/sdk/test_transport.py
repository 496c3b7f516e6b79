"""The IM client's HTTP/1.1 pool against real loopback servers answering odd things.

A scripted TCP server (asyncio streams, same loop) plays the server's side byte for byte, so
each framing the parser must handle -- lengths, chunks, bodies that end with the connection,
interim answers, garbage, truncation, stray bytes -- reaches the client over a real socket.
TLS runs against aiohttp's server with a throwaway CA. Every test runs on asyncio and on
uvloop (tests/sdk/conftest.py), the loop the worker uses.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import pytest
from aiohttp import web

from streams.sdk.transport import HEAD_LIMIT, IDLE_S, HTTPPool, TransportError, _Exchange
from streams_devkit.tls import make_test_pki

OK: Final = b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{"a":1}'
WAIT_S: Final = 10.0

Handler = Callable[[int, asyncio.StreamWriter], Awaitable[None]]


class ScriptedServer:
    """A loopback server reading whole requests and letting ``handler`` write each answer.

    ``handler(n, writer)`` gets the request's number (0, 1, ...) across all connections.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed_by_client = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.changed = asyncio.Condition()  # a request arrived, or the client hung up

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                await self._notify()
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                try:
                    await self.handler(len(self.requests) - 1, writer)
                finally:
                    self.in_flight -= 1
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
            await self._notify()
        finally:
            writer.close()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition`` holds after a request or a hang-up, failing after WAIT_S."""
        async with asyncio.timeout(WAIT_S), self.changed:
            await self.changed.wait_for(condition)

    async def wait_for_requests(self, count: int) -> None:
        """Wait until ``count`` requests arrived, failing loudly after WAIT_S."""
        await self.wait_until(lambda: len(self.requests) >= count)


@asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[tuple[ScriptedServer, str]]:
    server = ScriptedServer(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        listener.close()


def pool_for(
    url: str, *, limit: int = 1024, timeout_s: float = WAIT_S, max_connections: int = 8
) -> HTTPPool:
    return HTTPPool(
        url,
        max_connections=max_connections,
        timeout_s=timeout_s,
        max_body=limit,
        user_agent="streams-test/1",
    )


async def lost(connection: _Exchange) -> None:
    """Wait until the loop told ``connection`` it was lost, failing loudly after WAIT_S."""
    if not connection.open:
        return
    gone = asyncio.get_running_loop().create_future()
    told = connection.connection_lost

    def telling(exc: Exception | None) -> None:
        told(exc)
        gone.set_result(None)

    connection.connection_lost = telling  # type: ignore[method-assign]
    await asyncio.wait_for(gone, WAIT_S)


def answering(*answers: bytes, close_after: bool = False) -> Handler:
    """Answer request n with answers[n] (the last one repeats), closing after if asked."""

    async def handler(n: int, writer: asyncio.StreamWriter) -> None:
        writer.write(answers[min(n, len(answers) - 1)])
        await writer.drain()
        if close_after:
            writer.close()

    return handler


def holding_first(gate: asyncio.Event) -> Handler:
    """Keep request 0 unanswered until ``gate`` is set; answer OK otherwise."""

    async def handler(n: int, writer: asyncio.StreamWriter) -> None:
        if n == 0:
            await gate.wait()
        await answering(OK)(n, writer)

    return handler


async def fails_then_recovers(pool: HTTPPool, match: str) -> None:
    """The first POST fails with ``TransportError`` matching ``match``; the next one is answered."""
    with pytest.raises(TransportError, match=match):
        await pool.post("/", b"{}")
    assert (await pool.post("/", b"{}")).body == b'{"a":1}'
    await pool.close()


async def test_posts_the_request_and_keeps_the_connection() -> None:
    async with scripted(answering(OK)) as (server, url):
        pool = pool_for(url + "/base/")
        first = await pool.post("/v4/x?a=1&b=%2B", b'{"k":"v"}')
        second = await pool.post("/v4/y", b"{}")
        await pool.close()
    assert (first.status, first.body, first.too_large) == (200, b'{"a":1}', False)
    assert second.body == b'{"a":1}'
    assert server.connections == 1
    head, body = server.requests[0].split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /base/v4/x?a=1&b=%2B HTTP/1.1"
    assert {
        f"Host: {url.removeprefix('http://')}",
        "Content-Type: application/json",
        "Content-Length: 9",
        "Accept-Encoding: identity",
        "User-Agent: streams-test/1",
    } <= set(lines[1:])
    assert body == b'{"k":"v"}'


@pytest.mark.parametrize(
    ("answer", "status", "body", "connections"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n',
            200,
            b'{"a":1}',
            1,
            id="chunked-assembled-and-kept",
        ),
        pytest.param(
            b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", 1, id="no-content-needs-no-length"
        ),
        pytest.param(
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            503,
            b"",
            2,
            id="asking-to-close-is-not-reused",
        ),
    ],
)
async def test_two_answers_and_the_connections_they_took(
    answer: bytes, status: int, body: bytes, connections: int
) -> None:
    async with scripted(answering(answer)) as (server, url):
        pool = pool_for(url)
        answers = [await pool.post("/", b"{}") for _ in range(2)]
        await pool.close()
    assert [(a.status, a.body) for a in answers] == [(status, body)] * 2
    assert server.connections == connections


async def test_an_answer_without_length_or_chunks_is_refused() -> None:
    # Its body would end with the connection, so a reset or a TLS peer leaving without
    # close_notify would pass a cut answer as whole.
    unframed = b'HTTP/1.1 200 OK\r\n\r\n{"ErrorCode":0,"ActionStatus":"OK","Resu'
    async with scripted(answering(unframed, OK, close_after=True)) as (server, url):
        pool = pool_for(url)
        await fails_then_recovers(pool, "HTTP 200 answer without Content-Length")
    assert server.connections == 2


async def test_an_interim_answer_is_skipped() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
    async with scripted(answering(interim)) as (_, url):
        pool = pool_for(url)
        answer = await pool.post("/", b"{}")
        await pool.close()
    assert (answer.status, answer.body) == (200, b'{"a":1}')


async def test_an_answer_past_the_limit_is_cut_and_its_connection_dropped() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"x" * 20
    async with scripted(answering(big, OK)) as (server, url):
        pool = pool_for(url, limit=8)
        cut = await pool.post("/", b"{}")
        after = await pool.post("/", b"{}")
        await pool.close()
    assert (cut.status, cut.too_large, cut.body) == (200, True, b"x" * 9)
    assert (after.too_large, after.body) == (False, b'{"a":1}')
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", id="truncated-body"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", id="truncated-head"),
        pytest.param(b"", id="nothing"),
    ],
)
async def test_a_connection_closed_mid_answer_is_a_transport_error(answer: bytes) -> None:
    async with scripted(answering(answer, OK, close_after=True)) as (_, url):
        pool = pool_for(url)
        await fails_then_recovers(pool, "closed the connection before its answer")


@pytest.mark.parametrize(
    "answer",
    [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"],
    ids=["not-http", "bad-length"],
)
async def test_an_answer_that_is_not_http_is_a_transport_error(answer: bytes) -> None:
    async with scripted(answering(answer, OK)) as (server, url):
        pool = pool_for(url)
        await fails_then_recovers(pool, "malformed HTTP answer")
    assert server.connections == 2


async def test_an_upgrade_is_refused() -> None:
    upgrade = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    async with scripted(answering(upgrade)) as (_, url):
        pool = pool_for(url)
        with pytest.raises(TransportError, match="switched protocols"):
            await pool.post("/", b"{}")
        await pool.close()


async def test_a_timeout_drops_the_connection() -> None:
    never = asyncio.Event()
    async with scripted(holding_first(never)) as (server, url):
        pool = pool_for(url, timeout_s=1.0)  # the second request has all of it
        with pytest.raises(TimeoutError):
            await pool.post("/", b"{}")
        assert (await pool.post("/", b"{}")).body == b'{"a":1}'
        await pool.close()
        never.set()
    assert server.connections == 2


async def test_a_head_past_the_limit_is_refused() -> None:
    huge = b"HTTP/1.1 200 OK\r\nX-Filler: " + b"f" * (HEAD_LIMIT + 2048) + b"\r\n" + OK[17:]
    async with scripted(answering(huge, OK)) as (server, url):
        pool = pool_for(url, limit=1024)
        await fails_then_recovers(pool, "larger than the client reads")
    assert server.connections == 2


async def test_the_timeout_covers_waiting_for_a_connection() -> None:
    release = asyncio.Event()
    async with scripted(holding_first(release)) as (server, url):
        pool = pool_for(url, max_connections=1, timeout_s=0.5)
        # Started together, so the second's deadline comes with the first's: it spends its time
        # waiting for the one connection the first holds. Were the wait outside the timeout, it
        # would get the connection when the first gave up, and request 1 is answered at once.
        first = asyncio.create_task(pool.post("/", b"{}"))
        second = asyncio.create_task(pool.post("/", b"{}"))
        await server.wait_for_requests(1)
        answers = await asyncio.gather(first, second, return_exceptions=True)
        release.set()
        await pool.close()
    assert [type(a) for a in answers] == [TimeoutError, TimeoutError]


async def test_a_cancelled_request_drops_the_connection() -> None:
    release = asyncio.Event()
    async with scripted(holding_first(release)) as (server, url):
        pool = pool_for(url)
        request = asyncio.create_task(pool.post("/", b"{}"))
        await server.wait_for_requests(1)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert (await pool.post("/", b"{}")).body == b'{"a":1}'
        release.set()
        await pool.close()
    assert server.connections == 2


async def test_the_pool_bounds_connections_and_requests_in_flight() -> None:
    gate = asyncio.Event()

    async def held(n: int, writer: asyncio.StreamWriter) -> None:
        await gate.wait()
        await answering(OK)(n, writer)

    async with scripted(held) as (server, url):
        pool = pool_for(url, max_connections=2)
        requests = [asyncio.create_task(pool.post("/", b"{}")) for _ in range(5)]
        await server.wait_for_requests(2)
        gate.set()
        answers = await asyncio.gather(*requests)
        await pool.close()
    assert [a.status for a in answers] == [200] * 5
    assert (server.connections, server.most_in_flight) == (2, 2)


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    # The server closes the kept-alive connection after its answer, as one does after its idle
    # timeout; the pool must notice and open a fresh connection rather than fail.
    async with scripted(answering(OK, close_after=True)) as (server, url):
        pool = pool_for(url)
        await pool.post("/", b"{}")
        _, idle = pool._idle[0]  # the one connection, kept as reusable
        await lost(idle)
        assert (await pool.post("/", b"{}")).body == b'{"a":1}'
        await pool.close()
    assert server.connections == 2


async def test_a_connection_idle_too_long_is_retired() -> None:
    now = [1000.0]
    async with scripted(answering(OK)) as (server, url):
        pool = HTTPPool(
            url,
            max_connections=8,
            timeout_s=WAIT_S,
            max_body=1024,
            user_agent="t",
            clock=lambda: now[0],
        )
        await pool.post("/", b"{}")
        now[0] += IDLE_S
        await pool.post("/", b"{}")  # idle exactly IDLE_S: still reused
        now[0] += IDLE_S + 0.001
        await pool.post("/", b"{}")
        await pool.close()
    assert server.connections == 2


async def test_stray_bytes_on_an_idle_connection_retire_it() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def keep_writer(n: int, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await answering(OK)(n, writer)

    async with scripted(keep_writer) as (server, url):
        pool = pool_for(url)
        await pool.post("/", b"{}")
        writers[0].write(OK)  # an answer nobody asked for
        await server.wait_until(lambda: server.closed_by_client == 1)
        assert (await pool.post("/", b"{}")).body == b'{"a":1}'
        await pool.close()
    assert server.connections == 2


async def test_a_second_answer_in_the_same_read_retires_the_connection() -> None:
    async with scripted(answering(OK + OK)) as (server, url):
        pool = pool_for(url)
        first = await pool.post("/", b"{}")
        second = await pool.post("/", b"{}")
        await pool.close()
    assert first.body == second.body == b'{"a":1}'
    assert server.connections == 2


async def test_closing_the_pool_fails_requests_in_flight() -> None:
    release = asyncio.Event()

    async def held(n: int, writer: asyncio.StreamWriter) -> None:
        await release.wait()

    async with scripted(held) as (server, url):
        pool = pool_for(url)
        request = asyncio.create_task(pool.post("/", b"{}"))
        await server.wait_for_requests(1)
        await pool.close()
        with pytest.raises(TransportError, match="the connection was closed"):
            await request
        with pytest.raises(TransportError, match="client is closed"):
            await pool.post("/", b"{}")
        release.set()


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX-Injected: 1", "v4/x", "/é"])
async def test_a_target_that_could_split_the_request_is_refused(target: str) -> None:
    pool = pool_for("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="percent-encoded absolute path"):
        await pool.post(target, b"{}")


async def test_connection_refused_is_an_os_error() -> None:
    async with scripted(answering(OK)) as (_, url):
        pass  # the port is free again once the listener closed
    pool = pool_for(url)
    with pytest.raises(OSError):
        await pool.post("/", b"{}")


@asynccontextmanager
async def tls_server(tmp_path: Path, host: str = "localhost") -> AsyncIterator[tuple[str, Path]]:
    """An aiohttp server on loopback TLS, certified for localhost only; yields its URL (naming
    ``host``) and the CA file that signed it."""
    pki = make_test_pki(tmp_path / "pki", hosts=("localhost",))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"scheme": request.scheme, "body": await request.text()})

    app = web.Application()
    app.router.add_post("/{path:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"https://{host}:{port}", pki.ca_file
    finally:
        await runner.cleanup()


async def test_tls_with_a_trusted_authority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_server(tmp_path) as (url, ca_file):
        # How an operator adds a private authority: OpenSSL's own variable, read by the
        # system trust store the pool loads.
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        pool = pool_for(url)
        answer = await pool.post("/v4/x", b"{}")
        await pool.close()
    assert (answer.status, answer.body) == (200, b'{"scheme": "https", "body": "{}"}')


async def test_tls_with_an_unknown_authority_is_refused(tmp_path: Path) -> None:
    async with tls_server(tmp_path) as (url, _):
        pool = pool_for(url)
        with pytest.raises(ssl.SSLCertVerificationError):
            await pool.post("/v4/x", b"{}")
        await pool.close()


async def test_tls_with_a_certificate_for_another_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_server(tmp_path, host="127.0.0.1") as (url, ca_file):
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # trusted, but for "localhost"
        pool = pool_for(url)
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
            await pool.post("/v4/x", b"{}")
        await pool.close()
