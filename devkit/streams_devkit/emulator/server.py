"""aiohttp server speaking the two Tencent Cloud Chat REST calls the pipeline uses.

``POST /v4/recentcontact/mark_contact`` and ``POST /v4/recentcontact/get_list`` answer in the real
shape, with the real checks in the real order and the real error codes, so the client can be
tested end to end (auth, limits, partial failures, retries) without a Tencent account. Fault
knobs inject the failures a real deployment meets only occasionally.

SECURITY: ``/debug/*`` reads every user's data and rewrites the knobs without authentication.
The emulator is a test tool meant to bind loopback; never expose it on a reachable interface.
The access log is disabled: aiohttp's prints the query string, which carries the UserSig.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Final

import orjson
from aiohttp import web

from streams.contract.limits import (
    MAX_CUSTOM_DATA_BYTES,
    MAX_ITEMS_PER_REQUEST,
    MAX_MARKED_PER_USER,
)
from streams.sdk import codes, usersig
from streams_devkit.emulator.config import EmulatorConfig, Knobs
from streams_devkit.emulator.store import Mark, MarkStore

#: Requests larger than this are refused with HTTP 413 before anything else is looked at.
MAX_BODY_BYTES: Final = 1024 * 1024
#: SessionItem per get_list page.
PAGE_SIZE: Final = 100
#: Calls kept by the request log (``GET /debug/requests``): about ten minutes at 300/s.
REQUEST_LOG_SIZE: Final = 200_000
#: The caller's From_Account, read from the raw body for the request log (no second JSON parse).
_FROM_ACCOUNT: Final = re.compile(rb'"From_Account"\s*:\s*"([^"\\]*)"')
#: The only MarkItem operation: set (or, with "", clear) the custom mark.
OPT_SET_MARK: Final = 2
CONTACT_C2C: Final = 1
CONTACT_GROUP: Final = 2
C2C_PREFIX: Final = "c2c_"
GROUP_PREFIX: Final = "group_"

Clock = Callable[[], float]
Json = dict[str, object]


class RestError(Exception):
    """A REST error code with its ErrorInfo / ResultInfo text (for a request or one item)."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(info)
        self.code = code
        self.info = info


@dataclass
class Stats:
    """Counters behind ``GET /debug/stats``, so tests can see what the client really sent."""

    requests: int = 0
    rejected_frequency: int = 0
    items_applied: int = 0
    #: Failures a knob caused: 70169 requests, 50004/51007 items, http_status/malformed/non_json.
    injected_failures: int = 0


class FixedWindow:
    """Counts requests per whole second of the clock, like a per-second REST quota."""

    def __init__(self) -> None:
        self._second = -1
        self._count = 0

    def admit(self, now: float, limit: int) -> bool:
        """Count one request at ``now``; False when it is beyond ``limit`` in its second."""
        second = int(now)
        if second != self._second:
            self._second, self._count = second, 0
        self._count += 1
        return self._count <= limit


@dataclass
class EmulatorState:
    """The mutable side of a running emulator; knobs can be replaced live."""

    config: EmulatorConfig
    clock: Clock
    knobs: Knobs
    rng: random.Random
    stats: Stats = field(default_factory=Stats)
    window: FixedWindow = field(default_factory=FixedWindow)
    #: (time, request-level code, From_Account) of each processed REST call, oldest first.
    request_log: deque[tuple[float, int, str | None]] = field(
        default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE)
    )

    def log_request(self, now: float, code: int, body: bytes) -> None:
        """Remember a processed call: when, how it was answered, and for which user."""
        found = _FROM_ACCOUNT.search(body)
        user = found.group(1).decode("utf-8", "replace") if found else None
        self.request_log.append((now, code, user))

    def replace_knobs(self, changes: Mapping[str, object]) -> None:
        """Apply knob changes; a new seed restarts the failure sequence for repeatability."""
        self.knobs = self.knobs.updated(changes)
        if "seed" in changes:
            self.rng = _seeded(self.knobs.seed)

    def roll(self, rate: float) -> bool:
        """True with probability ``rate``; draws nothing when the rate is 0 (keeps seeds stable)."""
        return rate > 0 and self.rng.random() < rate


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated REST call being processed."""

    state: EmulatorState
    store: MarkStore
    payload: Json
    request_id: str | None
    now: float


Endpoint = Callable[[Call], Json]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATE: Final = web.AppKey("emulator_state", EmulatorState)
STORE: Final = web.AppKey("emulator_store", MarkStore)


def _seeded(seed: int | None) -> random.Random:
    return random.Random(seed)  # noqa: S311 - fault injection, not cryptography


# --- request-level checks, in the order the server applies them -----------------------------


def check_sdkappid(query: Mapping[str, str], config: EmulatorConfig) -> None:
    """60006 unless the call names this emulator's app."""
    if query.get("sdkappid", "") != str(config.sdkappid):
        raise RestError(codes.BAD_SDKAPPID, "sdkappid is missing or not this app's")


def check_credentials_present(query: Mapping[str, str]) -> None:
    """70003 when the identifier or the UserSig is missing: nothing to verify."""
    if not query.get("identifier") or not query.get("usersig"):
        raise RestError(codes.USERSIG_UNPARSEABLE, "identifier and usersig are required")


def check_admin(query: Mapping[str, str], config: EmulatorConfig) -> None:
    """60010 unless the caller is the app administrator (only admins may call REST APIs)."""
    if query["identifier"] != config.admin:
        raise RestError(codes.ADMIN_REQUIRED, "identifier is not the app administrator")


@functools.lru_cache(maxsize=256)
def verify_usersig(sig: str, key: str) -> usersig.UserSigClaims | tuple[int, str]:
    """The claims of a UserSig whose signature matches ``key``, else (code, ErrorInfo): 70003
    for anything that is not a well-formed UserSig (undecodable, over 4 KiB decompressed, not
    a JSON object, claims missing or of the wrong type), 70009 for a signature that does not
    match. Never raises, whatever the input.

    Cached: clients reuse one UserSig for hours, and verifying (base64, zlib, JSON, HMAC) on
    every call was a large share of the emulator's CPU.
    """
    try:
        # Expiry depends on the time of each call, so it is checked by the caller.
        return usersig.verify(sig, key, now=0)
    except usersig.MalformedUserSigError as exc:
        return codes.USERSIG_UNPARSEABLE, str(exc)
    except usersig.UserSigError as exc:
        return codes.USERSIG_MISMATCH, str(exc)


def check_usersig(query: Mapping[str, str], config: EmulatorConfig, now: float) -> None:
    """The UserSig must decode, match the secret key, be unexpired and name this caller and app."""
    claims = verify_usersig(query["usersig"], config.secret_key)
    if isinstance(claims, tuple):
        raise RestError(*claims)
    if int(now) > claims.expires_at:
        raise RestError(codes.USERSIG_EXPIRED, "UserSig expired")
    if claims.identifier != query["identifier"]:
        raise RestError(codes.USERSIG_IDENTIFIER_MISMATCH, "usersig was issued to another user")
    if claims.sdkappid != config.sdkappid:
        raise RestError(codes.USERSIG_SDKAPPID_MISMATCH, "usersig was issued for another app")


def check_frequency(state: EmulatorState, now: float) -> None:
    """60007 beyond ``rate_limit`` calls in the current second; the call is not applied."""
    limit = state.knobs.rate_limit
    if limit and not state.window.admit(now, limit):
        state.stats.rejected_frequency += 1
        raise RestError(codes.REST_FREQUENCY_LIMIT, "REST API frequency limit exceeded")


def check_injected_failure(state: EmulatorState) -> None:
    """``fail_rate``: a retryable 70169 as if the backend had timed out before applying."""
    if state.roll(state.knobs.fail_rate):
        state.stats.injected_failures += 1
        raise RestError(codes.SERVER_TIMEOUT, "injected failure: server timeout")


def parse_json_object(body: bytes) -> Json:
    """60003 for a body that is not JSON, 50002 for JSON that is not an object."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        # What orjson refuses and Python's json reads (integers past 64 bits, NaN) is still
        # JSON to a lenient server: the slower parser decides, as it did alone before.
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise RestError(codes.JSON_PARSE_ERROR, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise RestError(codes.BAD_PARAMS, "body must be a JSON object")
    return payload


def text_field(value: object, name: str, *, allow_empty: bool = False) -> str:
    """A string that SQLite can store (no lone surrogates); 50002 otherwise."""
    if not isinstance(value, str) or not (value or allow_empty):
        raise RestError(codes.BAD_PARAMS, f"{name} must be a non-empty string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RestError(codes.BAD_PARAMS, f"{name} is not valid UTF-8") from None
    return value


def mark_items(payload: Json) -> list[object]:
    """MarkItem must be a list of 1..100 entries: 50002 when empty or absent, 51006 above 100."""
    items = payload.get("MarkItem")
    if not isinstance(items, list) or not items:
        raise RestError(codes.BAD_PARAMS, "MarkItem must be a non-empty list")
    if len(items) > MAX_ITEMS_PER_REQUEST:
        raise RestError(
            codes.TOO_MANY_ITEMS, f"at most {MAX_ITEMS_PER_REQUEST} MarkItem per request"
        )
    return items


def start_index(payload: Json) -> int:
    """get_list's paging cursor: a non-negative integer, 0 when absent."""
    value = payload.get("StartIndex", 0)
    if type(value) is not int or value < 0:
        raise RestError(codes.BAD_PARAMS, "StartIndex must be a non-negative integer")
    return value


# --- per-item checks -------------------------------------------------------------------------


def conversation_id(contact: object) -> str:
    """``c2c_<To_Account>`` or ``group_<ToGroupId>``: the id the SDK and the state use."""
    if not isinstance(contact, dict):
        raise RestError(codes.BAD_PARAMS, "ContactItem must be an object")
    kind = contact.get("Type")
    if type(kind) is int and kind == CONTACT_C2C:
        return C2C_PREFIX + text_field(contact.get("To_Account"), "ContactItem.To_Account")
    if type(kind) is int and kind == CONTACT_GROUP:
        return GROUP_PREFIX + text_field(contact.get("ToGroupId"), "ContactItem.ToGroupId")
    raise RestError(codes.BAD_PARAMS, "ContactItem.Type must be 1 (C2C) or 2 (group)")


def custom_mark(value: object) -> str:
    """CustomMark: a string of at most 256 UTF-8 bytes ("" clears the mark)."""
    mark = text_field(value, "CustomMark", allow_empty=True)
    if len(mark.encode("utf-8")) > MAX_CUSTOM_DATA_BYTES:
        raise RestError(
            codes.BAD_PARAMS, f"CustomMark exceeds {MAX_CUSTOM_DATA_BYTES} bytes of UTF-8"
        )
    return mark


def validate_item(item: object) -> tuple[str, str]:
    """The (conversation id, custom mark) a MarkItem asks for; 50002 when malformed."""
    if not isinstance(item, dict):
        raise RestError(codes.BAD_PARAMS, "MarkItem entries must be objects")
    if item.get("OptType") != OPT_SET_MARK:
        raise RestError(codes.BAD_PARAMS, f"OptType must be {OPT_SET_MARK} (set custom mark)")
    return conversation_id(item.get("ContactItem")), custom_mark(item.get("CustomMark"))


def check_item_injection(state: EmulatorState, conversation: str) -> None:
    """``fail_conversations`` fail permanently (51007); ``item_fail_rate`` retryably (50004)."""
    if conversation in state.knobs.fail_conversations:
        state.stats.injected_failures += 1
        raise RestError(codes.NOT_IN_GROUP, "injected failure: not a member of this conversation")
    if state.roll(state.knobs.item_fail_rate):
        state.stats.injected_failures += 1
        raise RestError(codes.INTERNAL_50004, "injected failure: internal error, retry")


def check_mark_cap(store: MarkStore, user: str, conversation: str, mark: str) -> None:
    """51008 when a new non-empty mark would exceed the per-user cap; updates and clears pass."""
    if (
        mark
        and not store.is_marked(user, conversation)
        and store.count_marked(user) >= MAX_MARKED_PER_USER
    ):
        raise RestError(
            codes.MARK_CAP_REACHED, f"at most {MAX_MARKED_PER_USER} marked conversations"
        )


# --- endpoints -------------------------------------------------------------------------------


def apply_item(call: Call, user: str, item: object) -> Json:
    """Check and apply one MarkItem; its failure is reported in its ResultItem only."""
    try:
        conversation, mark = validate_item(item)
        check_item_injection(call.state, conversation)
        check_mark_cap(call.store, user, conversation, mark)
    except RestError as exc:
        return result_item(item, exc.code, exc.info)
    call.store.set_mark(user, conversation, mark, at=call.now, request_id=call.request_id)
    call.state.stats.items_applied += 1
    return result_item(item, codes.OK, "")


def result_item(item: object, code: int, info: str) -> Json:
    """A ResultItem echoing the MarkItem's OptType and ContactItem, as the real server does."""
    sent = item if isinstance(item, dict) else {}
    return {
        "OptType": sent.get("OptType"),
        "ContactItem": sent.get("ContactItem"),
        "ResultCode": code,
        "ResultInfo": info,
    }


def mark_contact(call: Call) -> Json:
    """Apply every valid item in one transaction, committed before the answer is sent."""
    user = text_field(call.payload.get("From_Account"), "From_Account")
    items = mark_items(call.payload)
    with call.store.transaction():
        return {"ResultItem": [apply_item(call, user, item) for item in items]}


def session_item(mark: Mark) -> Json:
    """A SessionItem for a stored mark (the conversation id prefix gives the contact type)."""
    cid = mark.conversation_id
    if cid.startswith(GROUP_PREFIX):
        contact: Json = {"Type": CONTACT_GROUP, "GroupId": cid.removeprefix(GROUP_PREFIX)}
    else:
        contact = {"Type": CONTACT_C2C, "To_Account": cid.removeprefix(C2C_PREFIX)}
    return {**contact, "CustomMark": mark.custom_data, "MsgTime": int(mark.updated_at)}


def get_list(call: Call) -> Json:
    """One page of the user's marked conversations; CompleteFlag 1 on the last page."""
    user = text_field(call.payload.get("From_Account"), "From_Account")
    start = start_index(call.payload)
    # One row beyond the page tells whether another page follows.
    marks = call.store.marks(user, offset=start, limit=PAGE_SIZE + 1)
    page = marks[:PAGE_SIZE]
    return {
        "CompleteFlag": int(len(marks) <= PAGE_SIZE),
        "TimeStamp": int(call.now),
        "StartIndex": start + len(page),
        "TopTimeStamp": 0,
        "TopStartIndex": 0,
        "SessionItem": [session_item(mark) for mark in page],
    }


#: The ``non_json`` answer: a response cut off in the middle, as a broken proxy might send.
NON_JSON_BODY: Final = '{"ActionStatus": "OK", "ErrorCode": 0, "ResultItem": [{"ResultCode": '


def injected_answer(state: EmulatorState) -> web.Response | None:
    """The ``http_status`` / ``malformed`` / ``non_json`` answer, instead of processing the call."""
    knobs = state.knobs
    if not (knobs.http_status or knobs.malformed or knobs.non_json):
        return None
    state.stats.injected_failures += 1
    if knobs.http_status:
        return web.Response(status=knobs.http_status, text=f"injected HTTP {knobs.http_status}")
    if knobs.non_json:
        return web.Response(text=NON_JSON_BODY, content_type="application/json")
    return web.json_response({"ActionStatus": "OK"})


def process(request: web.Request, body: bytes, endpoint: Endpoint) -> Json:
    """Run the request-level checks in order, then the endpoint; errors become FAIL answers."""
    state, query = request.app[STATE], request.query
    now = state.clock()
    try:
        check_sdkappid(query, state.config)
        check_credentials_present(query)
        check_admin(query, state.config)
        check_usersig(query, state.config, now)
        check_frequency(state, now)
        check_injected_failure(state)
        call = Call(state, request.app[STORE], parse_json_object(body), query.get("random"), now)
        fields = endpoint(call)
    except RestError as exc:
        state.log_request(now, exc.code, body)
        return {"ActionStatus": "FAIL", "ErrorCode": exc.code, "ErrorInfo": exc.info}
    state.log_request(now, codes.OK, body)
    return {"ActionStatus": "OK", "ErrorCode": codes.OK, "ErrorInfo": "", **fields}


def json_answer(doc: Json) -> web.Response:
    """``doc`` as a JSON response, by orjson (Python's json was ~8 % of the emulator's CPU per
    request); what orjson cannot encode (an echoed integer past 64 bits) by Python's json."""
    try:
        body = orjson.dumps(doc)
    except orjson.JSONEncodeError:
        body = json.dumps(doc).encode()
    return web.Response(body=body, content_type="application/json")


def rest_handler(endpoint: Endpoint) -> Handler:
    """Wrap an endpoint with what every REST call shares: body limit, knobs, latency, JSON."""

    async def handle(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        state.stats.requests += 1
        body = await request.read()  # HTTP 413 above client_max_size
        response = injected_answer(state) or json_answer(process(request, body, endpoint))
        if state.knobs.latency_ms:
            await asyncio.sleep(state.knobs.latency_ms / 1000)
        return response

    return handle


# --- debug and health ------------------------------------------------------------------------


async def healthz(_request: web.Request) -> web.Response:
    """Liveness for the test fixture and orchestration."""
    return web.json_response({"status": "ok"})


async def debug_writes(request: web.Request) -> web.Response:
    """The write log as NDJSON in apply order, optionally for one ``user``."""
    writes = request.app[STORE].writes(request.query.get("user"))
    lines = "".join(json.dumps(write.as_json()) + "\n" for write in writes)
    return web.Response(text=lines, content_type="application/x-ndjson")


async def debug_requests(request: web.Request) -> web.Response:
    """The request log as NDJSON (``at``, ``code``, ``user``), from ``since`` (unix time) on.

    Every REST call the checks processed, answered or refused (60007 included), with the
    request-level code and the body's From_Account: which calls each second's bucket admitted
    and for whom. The last REQUEST_LOG_SIZE calls only; not persisted across restarts.
    """
    try:
        since = float(request.query.get("since", "-inf"))
    except ValueError:
        raise web.HTTPBadRequest(text="since must be a number") from None
    log = request.app[STATE].request_log
    lines = "".join(
        json.dumps({"at": at, "code": code, "user": user}) + "\n"
        for at, code, user in log
        if at >= since
    )
    return web.Response(text=lines, content_type="application/x-ndjson")


async def debug_state(request: web.Request) -> web.Response:
    """The user's current marks as ``{conversation_id: custom_data}``."""
    user = request.query.get("user")
    if not user:
        raise web.HTTPBadRequest(text="user is required")
    marks = request.app[STORE].marks(user)
    return web.json_response({mark.conversation_id: mark.custom_data for mark in marks})


async def debug_stats(request: web.Request) -> web.Response:
    """Request and failure counters since start (not persisted across restarts)."""
    return web.json_response(asdict(request.app[STATE].stats))


async def debug_knobs(request: web.Request) -> web.Response:
    """Replace the named knobs live and return all of them; 400 on an unknown or bad knob."""
    state = request.app[STATE]
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object of knobs")
        state.replace_knobs(changes)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(state.knobs.as_json())


async def open_store(app: web.Application) -> AsyncIterator[None]:
    """Open the SQLite state for the app's lifetime."""
    store = MarkStore(app[STATE].config.db_path)
    app[STORE] = store
    yield
    store.close()


def create_app(config: EmulatorConfig, *, clock: Clock = time.time) -> web.Application:
    """Build the emulator; ``clock`` drives UserSig expiry, rate buckets and write timestamps."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = EmulatorState(
        config=config, clock=clock, knobs=config.knobs, rng=_seeded(config.knobs.seed)
    )
    app.cleanup_ctx.append(open_store)
    app.router.add_post("/v4/recentcontact/mark_contact", rest_handler(mark_contact))
    app.router.add_post("/v4/recentcontact/get_list", rest_handler(get_list))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/debug/writes", debug_writes)
    app.router.add_get("/debug/state", debug_state)
    app.router.add_get("/debug/requests", debug_requests)
    app.router.add_get("/debug/stats", debug_stats)
    app.router.add_post("/debug/knobs", debug_knobs)
    return app


def base_url(host: str, port: int) -> str:
    """``http://host:port``, bracketing IPv6 literals."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGTERM or SIGINT while the block runs (handlers removed afterwards)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        yield stop
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def run(config: EmulatorConfig, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT; ``on_ready`` gets the bound URL (port 0 picks a free one).

    The signal handlers are in place before ``on_ready`` runs, so a supervisor that signals as
    soon as it sees the URL still gets a clean shutdown. No access log: aiohttp's would print
    the query string, i.e. the UserSig.
    """
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    try:
        with stop_on_signals() as stop:
            await web.TCPSite(runner, config.host, config.port).start()
            host, port = runner.addresses[0][:2]
            if on_ready is not None:
                on_ready(base_url(host, port))
            await stop.wait()
    finally:
        await runner.cleanup()
