"""The REST client and the seed-shaped call against the real emulator over loopback HTTP."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from streams.sdk import ConversationManager, TencentIMClient, codes
from streams.sdk.client import IMRequestError
from tests.fixtures.emulator import SECRET_KEY, settings_for


async def test_c2c_and_group_are_set_and_read_back(client: TencentIMClient) -> None:
    sdk = ConversationManager(client)
    result = await sdk.set_conversation_custom_data("alice", ["c2c_bob", "group_G1"], "pinned")
    assert result.code == 0
    assert [(r.conversation_id, r.result_code) for r in result.data] == [
        ("c2c_bob", 0),
        ("group_G1", 0),
    ]
    assert await client.get_custom_data("alice") == {"c2c_bob": "pinned", "group_G1": "pinned"}


async def test_batch_sets_a_value_per_conversation_in_one_request(
    client: TencentIMClient, emulator: Any
) -> None:
    values = [(f"c2c_peer{i:03}", f"v{i}") for i in range(100)]
    sdk = ConversationManager(client)
    result = await sdk.set_conversation_custom_data_batch("carol", values)
    assert result.code == 0
    assert [r.conversation_id for r in result.data] == [cid for cid, _ in values]
    assert all(r.result_code == 0 for r in result.data)
    writes = emulator.writes(user="carol")
    assert len({w["request_id"] for w in writes}) == 1
    assert [(w["conversation_id"], w["custom_data"]) for w in writes] == values
    assert await client.get_custom_data("carol") == dict(values)
    # More than one request's worth is refused whole (tests/sdk/test_seed_call.py).
    too_many = await sdk.set_conversation_custom_data_batch("carol", [*values, ("c2c_x", "v")])
    assert too_many.code == codes.SDK_INVALID_PARAMETER
    assert len(emulator.writes(user="carol")) == 100


async def test_257_bytes_rejected_before_the_network(
    client: TencentIMClient, emulator: Any
) -> None:
    sdk = ConversationManager(client)
    before = emulator.stats()["requests"]
    too_big = await sdk.set_conversation_custom_data("dave", ["c2c_x"], "é" * 128 + "a")
    assert too_big.code == codes.SDK_INVALID_PARAMETER
    assert "257 UTF-8 bytes" in too_big.desc
    assert [r.result_code for r in too_big.data] == [codes.SDK_INVALID_PARAMETER]
    assert emulator.stats()["requests"] == before
    fits = await sdk.set_conversation_custom_data("dave", ["c2c_x"], "é" * 128)
    assert fits.code == 0 and fits.data[0].result_code == 0
    assert await client.get_custom_data("dave") == {"c2c_x": "é" * 128}


async def test_invalid_conversation_answered_per_conversation(client: TencentIMClient) -> None:
    result = await ConversationManager(client).set_conversation_custom_data(
        "erin", ["c2c_ok", "bogus", "group_"], "x"
    )
    assert result.code == 0
    assert [r.result_code for r in result.data] == [0, 6017, 6017]
    assert "conversationID" in result.data[1].result_info
    assert await client.get_custom_data("erin") == {"c2c_ok": "x"}


async def test_empty_list_and_bad_user_are_invalid(client: TencentIMClient) -> None:
    sdk = ConversationManager(client)
    assert (await sdk.set_conversation_custom_data("erin", [], "x")).code == 6017
    bad_user = await sdk.set_conversation_custom_data("a b", ["c2c_x"], "x")
    assert bad_user.code == 6017 and bad_user.data[0].result_code == 6017


async def test_wrong_secret_is_a_permanent_usersig_error(emulator: Any) -> None:
    async with TencentIMClient(settings_for(emulator.url, secret_key="wrong")) as im:
        request = await im.mark("frank", [("c2c_x", "v")])
        result = await ConversationManager(im).set_conversation_custom_data("f", ["c2c_x"], "v")
    assert request.code == codes.USERSIG_MISMATCH
    assert [(i.code, i.retryable) for i in request.items] == [(codes.USERSIG_MISMATCH, False)]
    assert result.code == codes.USERSIG_MISMATCH
    assert "wrong" not in repr(request) and SECRET_KEY not in repr(result)


async def test_frequency_limit_is_retryable(client: TencentIMClient, emulator: Any) -> None:
    emulator.set_knobs(rate_limit=2)
    results = [await client.mark("gina", [(f"c2c_{i}", "v")]) for i in range(6)]
    limited = [r for r in results if r.code == codes.REST_FREQUENCY_LIMIT]
    assert limited, "six requests in well under a second must exceed 2/s"
    assert all(r.frequency_limited and r.items[0].retryable for r in limited)


async def test_injected_item_failure_is_retryable(client: TencentIMClient, emulator: Any) -> None:
    emulator.set_knobs(item_fail_rate=1.0)
    request = await client.mark("hank", [("c2c_a", "v"), ("group_b", "w")])
    assert request.code == 0
    assert [(i.code, i.retryable) for i in request.items] == [(50004, True), (50004, True)]


async def test_permanent_item_failure_for_one_conversation(
    client: TencentIMClient, emulator: Any
) -> None:
    emulator.set_knobs(fail_conversations="group_closed")
    request = await client.mark("ivy", [("c2c_a", "v"), ("group_closed", "w")])
    assert [(i.code, i.retryable) for i in request.items] == [
        (0, False),
        (codes.NOT_IN_GROUP, False),
    ]


async def test_5xx_and_malformed_answers_are_retryable(
    client: TencentIMClient, emulator: Any
) -> None:
    emulator.set_knobs(http_status=503)
    unavailable = await client.mark("jo", [("c2c_a", "v")])
    assert (unavailable.code, unavailable.http_status) == (codes.HTTP_ERROR, 503)
    assert unavailable.items[0].retryable
    emulator.set_knobs(http_status=0, malformed=True)
    malformed = await client.mark("jo", [("c2c_a", "v")])
    assert malformed.code == codes.MALFORMED_RESPONSE and malformed.items[0].retryable


async def test_connection_refused_is_retryable_and_redacted(emulator: Any) -> None:
    emulator.stop()
    async with TencentIMClient(settings_for(emulator.url)) as im:
        request = await im.mark("kim", [("c2c_a", "v")])
    assert request.code == codes.TRANSPORT_ERROR and request.items[0].retryable
    assert "usersig" not in request.info.lower() and "?" not in request.info.replace(
        "?<redacted>", ""
    )


async def test_state_survives_emulator_restart(client: TencentIMClient, emulator: Any) -> None:
    await client.set_custom_data("lea", [("c2c_a", "before restart")])
    await asyncio.to_thread(emulator.restart)  # keep the loop free to see the old socket close
    assert await client.get_custom_data("lea") == {"c2c_a": "before restart"}
    assert [w["custom_data"] for w in emulator.writes(user="lea")] == ["before restart"]


@asynccontextmanager
async def loopback_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A real aiohttp server on a free loopback port answering every path with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_refused_and_never_followed(status: int) -> None:
    reached: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        reached.append(request.path)
        return web.json_response({"ActionStatus": "OK", "ErrorCode": 0, "ResultItem": []})

    async with loopback_server(elsewhere) as other:

        async def redirect(request: web.Request) -> web.Response:
            # A Location that copies the query string would carry the UserSig to `other`.
            location = f"{other}/collect?{request.query_string}"
            return web.Response(status=status, headers={"Location": location})

        async with loopback_server(redirect) as url, TencentIMClient(settings_for(url)) as im:
            request = await im.mark("alice", [("c2c_bob", "secret value")])
            with pytest.raises(IMRequestError) as read_back:
                await im.get_custom_data("alice")

    assert reached == []
    assert (request.code, request.http_status) == (codes.HTTP_ERROR, status)
    assert request.info == f"HTTP {status} redirect refused (Location not followed)"
    assert [(i.code, i.retryable) for i in request.items] == [(codes.HTTP_ERROR, False)]
    assert read_back.value.info == request.info
    assert "collect" not in repr(request) and "usersig" not in repr(request).lower()
