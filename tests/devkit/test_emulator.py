"""The IM REST emulator over real HTTP: shapes, checks and codes, knobs, persistence, write log.

Every test talks to a real emulator subprocess with ``aiohttp`` and asserts exact codes, so a
drift from the documented Tencent behaviour the client relies on fails here first.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from streams.contract.limits import REQUESTS_PER_SECOND
from streams.sdk import codes
from streams.sdk.usersig import decode, generate, pack
from streams_devkit.emulator.config import Knobs
from tests.fixtures.emulator import (
    ADMIN,
    SDKAPPID,
    SECRET_KEY,
    EmulatorFactory,
    RunningEmulator,
)

MARK: str = "mark_contact"
LIST: str = "get_list"


def make_sig(
    *,
    key: str = SECRET_KEY,
    identifier: str = ADMIN,
    sdkappid: int = SDKAPPID,
    issued_at: int | None = None,
    expire_s: int = 3600,
) -> str:
    issued = int(time.time()) if issued_at is None else issued_at
    return generate(sdkappid, identifier, key, issued_at=issued, expire_s=expire_s)


def tampered_sig(**claims: object) -> str:
    """A valid UserSig's document with claims replaced (json writes Infinity as JS does)."""
    return pack(json.dumps({**decode(make_sig()), **claims}).encode())


def rest_url(emulator: RunningEmulator, api: str, **query: object) -> str:
    """The REST URL with valid credentials; ``query`` overrides or (value None) drops params."""
    params: dict[str, object] = {
        "sdkappid": SDKAPPID,
        "identifier": ADMIN,
        "usersig": make_sig(),
        "random": 1,
        "contenttype": "json",
    }
    params |= query
    kept = {name: value for name, value in params.items() if value is not None}
    return f"{emulator.url}/v4/recentcontact/{api}?{urllib.parse.urlencode(kept)}"


def c2c(to: str, mark: str) -> dict[str, Any]:
    return {"OptType": 2, "ContactItem": {"Type": 1, "To_Account": to}, "CustomMark": mark}


def group(group_id: str, mark: str) -> dict[str, Any]:
    return {"OptType": 2, "ContactItem": {"Type": 2, "ToGroupId": group_id}, "CustomMark": mark}


def marks_body(user: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"From_Account": user, "MarkItem": list(items)}


def list_body(user: str, start: int = 0) -> dict[str, Any]:
    return {
        "From_Account": user,
        "TimeStamp": 0,
        "StartIndex": start,
        "TopTimeStamp": 0,
        "TopStartIndex": 0,
        "AssistFlags": 15,
    }


def result_codes(answer: dict[str, Any]) -> list[int]:
    return [item["ResultCode"] for item in answer["ResultItem"]]


def assert_request_failed(answer: dict[str, Any], code: int) -> None:
    assert answer["ActionStatus"] == "FAIL"
    assert answer["ErrorCode"] == code
    assert answer["ErrorInfo"]
    assert "ResultItem" not in answer


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> RunningEmulator:
    return emulator_factory()


async def post(
    http: aiohttp.ClientSession,
    emulator: RunningEmulator,
    api: str,
    body: object,
    **query: object,
) -> dict[str, Any]:
    """POST a JSON body to a REST API and return the (HTTP 200) JSON answer."""
    async with http.post(rest_url(emulator, api, **query), json=body) as resp:
        assert resp.status == 200, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def mark(
    http: aiohttp.ClientSession, emulator: RunningEmulator, user: str, *items: dict[str, Any]
) -> dict[str, Any]:
    return await post(http, emulator, MARK, marks_body(user, *items))


# --- success paths ---------------------------------------------------------------------------


async def test_c2c_and_group_marks_are_applied_and_listed(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    answer = await mark(http, emulator, "alice", c2c("bob", "pinned"), group("g1", "é-ü"))

    assert answer == {
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "ResultItem": [
            {
                "OptType": 2,
                "ContactItem": {"Type": 1, "To_Account": "bob"},
                "ResultCode": 0,
                "ResultInfo": "",
            },
            {
                "OptType": 2,
                "ContactItem": {"Type": 2, "ToGroupId": "g1"},
                "ResultCode": 0,
                "ResultInfo": "",
            },
        ],
    }
    listed = await post(http, emulator, LIST, list_body("alice"))
    assert listed["ActionStatus"] == "OK" and listed["ErrorCode"] == 0
    assert (listed["CompleteFlag"], listed["StartIndex"]) == (1, 2)
    sessions = [{k: v for k, v in s.items() if k != "MsgTime"} for s in listed["SessionItem"]]
    assert sessions == [
        {"Type": 1, "To_Account": "bob", "CustomMark": "pinned"},
        {"Type": 2, "GroupId": "g1", "CustomMark": "é-ü"},
    ]
    assert all(isinstance(s["MsgTime"], int) for s in listed["SessionItem"])
    assert emulator.state("alice") == {"c2c_bob": "pinned", "group_g1": "é-ü"}


async def test_empty_mark_clears_the_conversation(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await mark(http, emulator, "alice", c2c("bob", "x"), c2c("carl", "y"))
    answer = await mark(http, emulator, "alice", c2c("bob", ""))

    assert result_codes(answer) == [0]
    listed = await post(http, emulator, LIST, list_body("alice"))
    assert [s["To_Account"] for s in listed["SessionItem"]] == ["carl"]
    assert emulator.state("alice") == {"c2c_carl": "y"}
    assert [w["custom_data"] for w in emulator.writes("alice")] == ["x", "y", ""]


async def test_get_list_pages_by_start_index(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await mark(http, emulator, "pager", *(c2c(f"u{n:03}", "m") for n in range(100)))
    await mark(http, emulator, "pager", *(c2c(f"u{n:03}", "m") for n in range(100, 150)))

    first = await post(http, emulator, LIST, list_body("pager"))
    second = await post(http, emulator, LIST, list_body("pager", start=first["StartIndex"]))

    assert (len(first["SessionItem"]), first["CompleteFlag"], first["StartIndex"]) == (100, 0, 100)
    assert (len(second["SessionItem"]), second["CompleteFlag"], second["StartIndex"]) == (
        50,
        1,
        150,
    )
    names = [s["To_Account"] for s in first["SessionItem"] + second["SessionItem"]]
    assert names == [f"u{n:03}" for n in range(150)]


# --- request-level errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        pytest.param({"sdkappid": 1400000002}, codes.BAD_SDKAPPID, id="other-sdkappid"),
        pytest.param({"sdkappid": None}, codes.BAD_SDKAPPID, id="missing-sdkappid"),
        pytest.param({"usersig": None}, codes.USERSIG_UNPARSEABLE, id="missing-usersig"),
        pytest.param({"identifier": None}, codes.USERSIG_UNPARSEABLE, id="missing-identifier"),
        pytest.param(
            {"identifier": "alice", "usersig": make_sig(identifier="alice")},
            codes.ADMIN_REQUIRED,
            id="not-admin",
        ),
        pytest.param({"usersig": "not*a*sig"}, codes.USERSIG_UNPARSEABLE, id="garbage-usersig"),
        pytest.param({"usersig": make_sig(key="wrong")}, codes.USERSIG_MISMATCH, id="wrong-key"),
        # Each of these three was an HTTP 500 with a traceback.
        pytest.param(
            {"usersig": pack(b"[" * 2000 + b"]" * 2000)},
            codes.USERSIG_UNPARSEABLE,
            id="nested-zlib-payload",
        ),
        pytest.param(
            {"usersig": tampered_sig(**{"TLS.sig": "sïg"})},
            codes.USERSIG_UNPARSEABLE,
            id="non-ascii-tls-sig",
        ),
        pytest.param(
            {"usersig": tampered_sig(**{"TLS.time": float("inf")})},
            codes.USERSIG_UNPARSEABLE,
            id="infinite-tls-time",
        ),
        pytest.param(
            {"usersig": make_sig(issued_at=int(time.time()) - 7200, expire_s=60)},
            codes.USERSIG_EXPIRED,
            id="expired",
        ),
        pytest.param(
            {"usersig": make_sig(identifier="other-admin")},
            codes.USERSIG_IDENTIFIER_MISMATCH,
            id="sig-of-another-identifier",
        ),
        pytest.param(
            {"usersig": make_sig(sdkappid=1400000002)},
            codes.USERSIG_SDKAPPID_MISMATCH,
            id="sig-of-another-app",
        ),
    ],
)
async def test_credential_errors_fail_the_request(
    http: aiohttp.ClientSession, emulator: RunningEmulator, query: dict[str, object], code: int
) -> None:
    body = marks_body("alice", c2c("bob", "x"))

    assert_request_failed(await post(http, emulator, MARK, body, **query), code)
    assert_request_failed(await post(http, emulator, LIST, list_body("alice"), **query), code)
    assert emulator.writes() == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"{not json", codes.JSON_PARSE_ERROR, id="not-json"),
        pytest.param(b"\xff\xfe", codes.JSON_PARSE_ERROR, id="not-utf8"),
        pytest.param(b"[" * 100_000, codes.JSON_PARSE_ERROR, id="too-deep"),
        pytest.param(b"[1]", codes.BAD_PARAMS, id="not-an-object"),
        pytest.param(b'{"MarkItem": []}', codes.BAD_PARAMS, id="no-from-account"),
        pytest.param(b'{"From_Account": 7, "MarkItem": [{}]}', codes.BAD_PARAMS, id="int-user"),
        pytest.param(b'{"From_Account": "a", "MarkItem": {}}', codes.BAD_PARAMS, id="not-list"),
        pytest.param(b'{"From_Account": "a", "MarkItem": []}', codes.BAD_PARAMS, id="no-items"),
    ],
)
async def test_body_errors_fail_the_request(
    http: aiohttp.ClientSession, emulator: RunningEmulator, body: bytes, code: int
) -> None:
    async with http.post(rest_url(emulator, MARK), data=body) as resp:
        assert resp.status == 200
        assert_request_failed(await resp.json(), code)


async def test_json_past_what_orjson_reads_is_still_json(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    """The emulator reads and answers with orjson; an integer past 64 bits (which orjson
    refuses both ways) in an echoed ContactItem is still parsed, applied and echoed."""
    huge = 2**70
    body = '{"From_Account": "alice", "MarkItem": [{"OptType": 2, "CustomMark": "x", '
    body += f'"ContactItem": {{"Type": 1, "To_Account": "bob", "Tag": {huge}}}}}]}}'
    async with http.post(rest_url(emulator, MARK), data=body.encode()) as resp:
        assert resp.status == 200
        answer = await resp.json()

    assert answer["ActionStatus"] == "OK"
    assert result_codes(answer) == [codes.OK]
    assert answer["ResultItem"][0]["ContactItem"]["Tag"] == huge
    assert emulator.state("alice") == {"c2c_bob": "x"}


async def test_more_than_100_items_is_rejected_whole(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    answer = await mark(http, emulator, "alice", *(c2c(f"u{n}", "x") for n in range(101)))

    assert_request_failed(answer, codes.TOO_MANY_ITEMS)
    assert emulator.writes() == []
    assert emulator.state("alice") == {}


async def test_body_over_one_mib_is_http_413(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    async with http.post(rest_url(emulator, MARK), data=b" " * (1024 * 1024 + 1)) as resp:
        assert resp.status == 413


# --- per-item errors -------------------------------------------------------------------------


async def test_custom_mark_limit_counts_utf8_bytes(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    fits = "€" * 85 + "a"  # 85 * 3 + 1 = 256 bytes
    too_long = "€" * 85 + "é"  # 85 * 3 + 2 = 257 bytes, only 86 characters

    answer = await mark(http, emulator, "alice", c2c("fits", fits), c2c("long", too_long))

    assert result_codes(answer) == [0, codes.BAD_PARAMS]
    assert "256" in answer["ResultItem"][1]["ResultInfo"]
    assert emulator.state("alice") == {"c2c_fits": fits}


@pytest.mark.parametrize(
    "item",
    [
        pytest.param({**c2c("bob", "x"), "OptType": 1}, id="opt-type-1"),
        pytest.param({"OptType": 2, "ContactItem": {"Type": 3, "To_Account": "b"}}, id="type-3"),
        pytest.param(
            {**c2c("b", "x"), "ContactItem": {"Type": True, "To_Account": "b"}}, id="bool"
        ),
        pytest.param({**c2c("b", "x"), "ContactItem": {"Type": 1}}, id="no-to-account"),
        pytest.param(c2c("", "x"), id="empty-to-account"),
        pytest.param({**c2c("b", "x"), "ContactItem": {"Type": 1, "To_Account": 5}}, id="int-id"),
        pytest.param(group("", "x"), id="empty-group-id"),
        pytest.param({**c2c("b", "x"), "ContactItem": {"Type": 2, "To_Account": "b"}}, id="mixed"),
        pytest.param({**c2c("b", "x"), "ContactItem": "c2c_b"}, id="contact-not-object"),
        pytest.param({**c2c("b", "x"), "CustomMark": 5}, id="int-mark"),
        pytest.param({"OptType": 2, "ContactItem": {"Type": 1, "To_Account": "b"}}, id="no-mark"),
        pytest.param(c2c("b", "\ud800"), id="lone-surrogate"),
        pytest.param("c2c_b", id="item-not-object"),
    ],
)
async def test_a_bad_item_fails_alone(
    http: aiohttp.ClientSession, emulator: RunningEmulator, item: Any
) -> None:
    answer = await mark(http, emulator, "alice", item, group("ok", "applied"))

    assert answer["ActionStatus"] == "OK" and answer["ErrorCode"] == 0
    assert result_codes(answer) == [codes.BAD_PARAMS, 0]
    assert answer["ResultItem"][0]["ResultInfo"]
    assert emulator.state("alice") == {"group_ok": "applied"}


async def test_the_1001st_marked_conversation_hits_the_cap(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    for batch in range(10):
        items = (c2c(f"u{batch}-{n}", "m") for n in range(100))
        assert set(result_codes(await mark(http, emulator, "heavy", *items))) == {0}

    answer = await mark(http, emulator, "heavy", c2c("new", "m"), c2c("u0-0", "updated"))
    assert result_codes(answer) == [codes.MARK_CAP_REACHED, 0]

    # Clearing one frees a slot for the next item of the same request.
    answer = await mark(http, emulator, "heavy", c2c("u0-1", ""), c2c("new", "m"))
    assert result_codes(answer) == [0, 0]
    assert len(emulator.state("heavy")) == 1000
    assert result_codes(await mark(http, emulator, "other", c2c("new", "m"))) == [0]


# --- knobs -----------------------------------------------------------------------------------


async def test_frequency_limit_rejects_beyond_the_rate_and_applies_nothing(
    http: aiohttp.ClientSession, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(rate_limit=5)
    calls = [mark(http, emulator, "busy", c2c(f"u{n}", "m")) for n in range(20)]
    answers = await asyncio.gather(*calls)

    limited = [a for a in answers if a["ErrorCode"] == codes.REST_FREQUENCY_LIMIT]
    applied = [a for a in answers if a["ErrorCode"] == 0]
    assert len(limited) + len(applied) == 20
    # 20 calls span at most two 1-second buckets of 5.
    assert len(limited) >= 10
    for answer in limited:
        assert_request_failed(answer, codes.REST_FREQUENCY_LIMIT)
    assert len(emulator.writes("busy")) == len(applied)
    stats = emulator.stats()
    assert stats["requests"] == 20
    assert stats["rejected_frequency"] == len(limited)


def test_the_frequency_limit_is_the_services_by_default_and_0_turns_it_off(
    emulator: RunningEmulator,
) -> None:
    assert emulator.set_knobs()["rate_limit"] == REQUESTS_PER_SECOND == 200
    assert Knobs().rate_limit == REQUESTS_PER_SECOND
    assert Knobs.from_env({"STREAMS_EMULATOR_RATE_LIMIT": "0"}).rate_limit == 0
    assert emulator.set_knobs(rate_limit=0)["rate_limit"] == 0


async def test_the_request_log_names_each_calls_user_and_code_refused_ones_included(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    started = time.time()
    emulator.set_knobs(rate_limit=1)
    answers = [await mark(http, emulator, user, c2c("peer", "m")) for user in ("ann", "bob")]
    codes_sent = [answer["ErrorCode"] for answer in answers]
    log = emulator.request_log(since=started)
    if codes_sent == [0, 0]:  # the two calls straddled a second
        assert [entry["code"] for entry in log] == [0, 0]
    else:
        assert codes_sent == [0, codes.REST_FREQUENCY_LIMIT]
        assert [entry["code"] for entry in log] == codes_sent
    assert [entry["user"] for entry in log] == ["ann", "bob"]
    assert all(started <= entry["at"] <= time.time() for entry in log)
    assert emulator.request_log(since=time.time() + 60) == []


async def test_fail_rate_answers_70169_without_applying(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    emulator.set_knobs(fail_rate=1.0)
    assert_request_failed(await mark(http, emulator, "a", c2c("b", "x")), codes.SERVER_TIMEOUT)
    assert emulator.writes() == []

    emulator.set_knobs(fail_rate=0)
    assert result_codes(await mark(http, emulator, "a", c2c("b", "x"))) == [0]
    assert emulator.stats()["injected_failures"] == 1


async def test_item_fail_rate_answers_50004_per_item(
    http: aiohttp.ClientSession, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(item_fail_rate=1.0)
    answer = await mark(http, emulator, "a", c2c("b", "x"), group("g", "y"))

    assert answer["ErrorCode"] == 0
    assert result_codes(answer) == [codes.INTERNAL_50004, codes.INTERNAL_50004]
    assert emulator.writes() == []
    assert emulator.stats()["injected_failures"] == 2


async def test_seed_makes_injected_failures_repeatable(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    items = [c2c(f"u{n}", "m") for n in range(30)]

    emulator.set_knobs(item_fail_rate=0.5, seed=7)
    first = result_codes(await mark(http, emulator, "a", *items))
    emulator.set_knobs(seed=7)
    second = result_codes(await mark(http, emulator, "a", *items))

    assert first == second
    assert set(first) == {0, codes.INTERNAL_50004}


async def test_fail_conversations_fail_permanently_with_51007(
    http: aiohttp.ClientSession, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(fail_conversations=["group_closed", "c2c_gone"])
    answer = await mark(
        http, emulator, "a", group("closed", "x"), c2c("bob", "y"), c2c("gone", "z")
    )

    assert result_codes(answer) == [codes.NOT_IN_GROUP, 0, codes.NOT_IN_GROUP]
    assert emulator.state("a") == {"c2c_bob": "y"}


async def test_knobs_can_come_from_the_environment(
    http: aiohttp.ClientSession, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(env={"STREAMS_EMULATOR_FAIL_CONVERSATIONS": "c2c_gone"})

    answer = await mark(http, emulator, "a", c2c("gone", "x"))

    assert result_codes(answer) == [codes.NOT_IN_GROUP]


async def test_http_status_knob_answers_that_status_with_a_plain_body(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    emulator.set_knobs(http_status=503)
    for api in (MARK, LIST):
        async with http.post(rest_url(emulator, api), json=marks_body("a", c2c("b", "x"))) as r:
            assert r.status == 503
            assert r.content_type == "text/plain"
    assert emulator.writes() == []

    emulator.set_knobs(http_status=0)
    assert result_codes(await mark(http, emulator, "a", c2c("b", "x"))) == [0]


async def test_malformed_knob_answers_200_without_the_documented_fields(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    emulator.set_knobs(malformed=True)

    assert await mark(http, emulator, "a", c2c("b", "x")) == {"ActionStatus": "OK"}
    assert await post(http, emulator, LIST, list_body("a")) == {"ActionStatus": "OK"}
    assert emulator.writes() == []


async def test_latency_knob_delays_answers(
    http: aiohttp.ClientSession, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(latency_ms=300)
    started = time.monotonic()

    assert result_codes(await mark(http, emulator, "a", c2c("b", "x"))) == [0]

    assert time.monotonic() - started >= 0.3


def test_invalid_knobs_are_refused_and_leave_the_knobs_alone(
    emulator: RunningEmulator,
) -> None:
    for bad in ({"fail_rate": 2}, {"no_such_knob": 1}, {"http_status": 200}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            emulator.set_knobs(**bad)
        assert refused.value.code == 400

    assert emulator.set_knobs()["fail_rate"] == 0.0


# --- persistence and the write log -----------------------------------------------------------


async def test_restart_keeps_state_and_write_log(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await mark(http, emulator, "lea", c2c("bob", "before"))
    writes_before = emulator.writes()

    # In a thread so the loop sees the old process close the pooled keep-alive connection.
    await asyncio.to_thread(emulator.restart)

    assert emulator.writes() == writes_before
    listed = await post(http, emulator, LIST, list_body("lea"))
    assert [s["CustomMark"] for s in listed["SessionItem"]] == ["before"]
    await mark(http, emulator, "lea", c2c("bob", "after"))
    assert [w["custom_data"] for w in emulator.writes("lea")] == ["before", "after"]


async def test_write_log_keeps_apply_order_and_request_ids(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await post(http, emulator, MARK, marks_body("a", c2c("x", "1"), group("g", "2")), random=111)
    await post(http, emulator, MARK, marks_body("a", c2c("x", "3")), random=222)

    writes = emulator.writes()

    assert [(w["conversation_id"], w["custom_data"], w["request_id"]) for w in writes] == [
        ("c2c_x", "1", "111"),
        ("group_g", "2", "111"),
        ("c2c_x", "3", "222"),
    ]
    assert {w["user"] for w in writes} == {"a"}
    stamps = [w["at"] for w in writes]
    assert stamps == sorted(stamps)


async def test_debug_writes_filters_by_user(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    await mark(http, emulator, "a", c2c("x", "1"))
    await mark(http, emulator, "b", c2c("y", "2"))
    await mark(http, emulator, "a", c2c("z", "3"))

    assert [w["conversation_id"] for w in emulator.writes("a")] == ["c2c_x", "c2c_z"]
    assert [w["conversation_id"] for w in emulator.writes("b")] == ["c2c_y"]
    assert emulator.writes("nobody") == []
    assert len(emulator.writes()) == 3
    assert emulator.stats()["items_applied"] == 3


def test_sigterm_stops_the_emulator_cleanly(emulator: RunningEmulator) -> None:
    assert emulator.stop() == 0
