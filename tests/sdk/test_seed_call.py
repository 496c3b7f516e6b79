"""The seed call against the real emulator over loopback HTTP, judged the way the seed's caller
judges it: ``follow_seed_example`` does what the seed's code example does (walk ``data`` only when
``code == 0``), and what it believes set must be exactly what the emulator holds.

The rule under test (streams/sdk/api.py, docs/CONTRACT.md): one call is one request of at most
100 conversations; more, or none, is refused whole with 6017 and nothing is sent; ``code`` is 0
exactly when at least one conversation was set, and non-zero means none was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from streams.contract import ValueCallback
from streams.sdk import ConversationManager, TencentIMClient, codes
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator, settings_for


def follow_seed_example(callback: ValueCallback) -> set[str]:
    """The conversations a caller following the seed's example believes were set.

    The seed's example, on the wire shape (``code``, ``desc``, ``data`` of ``conversationID``,
    ``resultCode``, ``resultInfo``): ``if (res.code == 0) { res.data?.forEach((element) {
    element.conversationID; element.resultCode; ... }) }``, and nothing otherwise.
    """
    res = callback.model_dump()
    believed: set[str] = set()
    if res["code"] == 0:
        for element in res["data"] or []:
            if element["resultCode"] == 0:
                believed.add(element["conversationID"])
    return believed


@pytest.fixture
def sdk(client: TencentIMClient) -> ConversationManager:
    return ConversationManager(client)


async def held(client: TencentIMClient, emulator: RunningEmulator, user: str) -> dict[str, str]:
    """What the emulator holds for ``user``: its state, which get_list must read back the same."""
    emulator.set_knobs(rate_limit=0)  # the read-back is a REST call too
    state = emulator.state(user)
    assert await client.get_custom_data(user) == state
    return state


async def assert_caller_agrees(
    callbacks: Sequence[ValueCallback],
    client: TencentIMClient,
    emulator: RunningEmulator,
    user: str,
    value: str,
) -> set[str]:
    """What the caller believes set is exactly what the emulator holds (``user`` starts empty)."""
    believed = set().union(*(follow_seed_example(callback) for callback in callbacks))
    state = await held(client, emulator, user)
    assert set(state) == believed
    assert all(state[cid] == value for cid in believed)
    return believed


def peers(count: int, prefix: str = "c2c_peer") -> list[str]:
    return [f"{prefix}{i:03}" for i in range(count)]


async def next_second() -> None:
    """Sleep to just past a whole second, so calls made at once share the emulator's rate window."""
    await asyncio.sleep(1.02 - time.time() % 1)


async def test_150_ids_are_refused_whole_and_nothing_is_sent(
    sdk: ConversationManager, client: TencentIMClient, emulator: RunningEmulator
) -> None:
    emulator.set_knobs(rate_limit=1)  # would limit a second request, if there were one
    before = emulator.stats()["requests"]
    ids = peers(150)
    result = await sdk.set_conversation_custom_data("u150", ids, "v")
    assert result.code == codes.SDK_INVALID_PARAMETER
    assert "150 conversations, at most 100 per call" in result.desc
    assert [r.conversation_id for r in result.data] == ids
    assert {r.result_code for r in result.data} == {codes.SDK_INVALID_PARAMETER}
    batch = await sdk.set_conversation_custom_data_batch("u150", [(cid, "v") for cid in ids])
    assert batch.code == codes.SDK_INVALID_PARAMETER
    assert emulator.stats()["requests"] == before
    assert emulator.writes("u150") == []
    assert await assert_caller_agrees([result, batch], client, emulator, "u150", "v") == set()


async def test_150_ids_split_by_the_caller_second_request_frequency_limited(
    sdk: ConversationManager, client: TencentIMClient, emulator: RunningEmulator
) -> None:
    ids = peers(150)
    emulator.set_knobs(rate_limit=1)
    await next_second()
    first = await sdk.set_conversation_custom_data("split", ids[:100], "v")
    second = await sdk.set_conversation_custom_data("split", ids[100:], "v")
    assert (first.code, first.desc) == (0, "OK")
    assert [r.result_code for r in first.data] == [0] * 100
    assert second.code == codes.SDK_FREQUENCY_LIMIT
    assert {r.result_code for r in second.data} == {codes.SDK_FREQUENCY_LIMIT}
    believed = await assert_caller_agrees([first, second], client, emulator, "split", "v")
    assert believed == set(ids[:100])


async def test_all_invalid_ids_are_not_code_0_and_nothing_is_sent(
    sdk: ConversationManager, client: TencentIMClient, emulator: RunningEmulator
) -> None:
    before = emulator.stats()["requests"]
    result = await sdk.set_conversation_custom_data("inval", ["bogus", "group_", "c2c_"], "v")
    assert result.code == codes.SDK_INVALID_PARAMETER
    assert result.desc.startswith("none of the 3 conversations was set: invalid conversationID")
    assert [r.result_code for r in result.data] == [codes.SDK_INVALID_PARAMETER] * 3
    assert emulator.stats()["requests"] == before
    assert await assert_caller_agrees([result], client, emulator, "inval", "v") == set()


async def test_mix_of_invalid_and_valid_reports_each_and_is_code_0(
    sdk: ConversationManager, client: TencentIMClient, emulator: RunningEmulator
) -> None:
    ids = ["c2c_ok", "bogus", "group_G1", "group_"]
    result = await sdk.set_conversation_custom_data("mixed", ids, "v")
    assert (result.code, result.desc) == (0, "OK")
    assert [(r.conversation_id, r.result_code) for r in result.data] == [
        ("c2c_ok", 0),
        ("bogus", codes.SDK_INVALID_PARAMETER),
        ("group_G1", 0),
        ("group_", codes.SDK_INVALID_PARAMETER),
    ]
    believed = await assert_caller_agrees([result], client, emulator, "mixed", "v")
    assert believed == {"c2c_ok", "group_G1"}


async def test_server_refusing_every_sent_conversation_is_not_code_0(
    sdk: ConversationManager, client: TencentIMClient, emulator: RunningEmulator
) -> None:
    emulator.set_knobs(fail_conversations="group_closed,group_gone")
    refused = await sdk.set_conversation_custom_data(
        "closed", ["group_closed", "bogus", "group_gone"], "v"
    )
    assert refused.code == codes.NOT_IN_GROUP
    assert refused.desc.startswith("none of the 3 conversations was set")
    assert [r.result_code for r in refused.data] == [
        codes.NOT_IN_GROUP,
        codes.SDK_INVALID_PARAMETER,
        codes.NOT_IN_GROUP,
    ]
    partly = await sdk.set_conversation_custom_data("closed", ["group_closed", "c2c_a"], "v")
    assert partly.code == 0
    assert [r.result_code for r in partly.data] == [codes.NOT_IN_GROUP, 0]
    believed = await assert_caller_agrees([refused, partly], client, emulator, "closed", "v")
    assert believed == {"c2c_a"}


async def test_100_ids_go_out_in_one_request(
    sdk: ConversationManager, client: TencentIMClient, emulator: RunningEmulator
) -> None:
    before = emulator.stats()["requests"]
    ids = peers(50) + peers(50, prefix="group_G")
    result = await sdk.set_conversation_custom_data("hundred", ids, "v")
    assert (result.code, result.desc) == (0, "OK")
    assert [(r.conversation_id, r.result_code) for r in result.data] == [(cid, 0) for cid in ids]
    assert emulator.stats()["requests"] == before + 1
    assert len({w["request_id"] for w in emulator.writes("hundred")}) == 1
    believed = await assert_caller_agrees([result], client, emulator, "hundred", "v")
    assert believed == set(ids)


async def test_101_ids_are_refused_whole(
    sdk: ConversationManager, client: TencentIMClient, emulator: RunningEmulator
) -> None:
    before = emulator.stats()["requests"]
    result = await sdk.set_conversation_custom_data("u101", peers(101), "v")
    assert result.code == codes.SDK_INVALID_PARAMETER
    assert len(result.data) == 101
    assert emulator.stats()["requests"] == before
    assert await assert_caller_agrees([result], client, emulator, "u101", "v") == set()


async def test_empty_list_is_refused(
    sdk: ConversationManager, client: TencentIMClient, emulator: RunningEmulator
) -> None:
    before = emulator.stats()["requests"]
    result = await sdk.set_conversation_custom_data("empty", [], "v")
    assert result.code == codes.SDK_INVALID_PARAMETER
    assert result.data == []
    assert emulator.stats()["requests"] == before
    assert await assert_caller_agrees([result], client, emulator, "empty", "v") == set()


async def test_timeout_after_apply_is_a_failed_call_and_repeating_it_converges(
    emulator_factory: EmulatorFactory,
) -> None:
    """The one outcome the server does not tell (documented): the emulator applies, then answers
    later than the client waits. The call is failed (-1) while the value is held; setting is
    idempotent, so the caller's natural reaction -- repeat the call -- makes both agree."""
    emulator = emulator_factory(latency_ms=3600)
    async with TencentIMClient(settings_for(emulator.url, timeout_s=3.1)) as im:
        sdk = ConversationManager(im)
        lost = await sdk.set_conversation_custom_data("slow", ["c2c_a"], "v")
        assert lost.code == codes.TRANSPORT_ERROR
        assert follow_seed_example(lost) == set()
        assert emulator.state("slow") == {"c2c_a": "v"}
        emulator.set_knobs(latency_ms=0)
        again = await sdk.set_conversation_custom_data("slow", ["c2c_a"], "v")
        assert again.code == 0
        assert await assert_caller_agrees([again], im, emulator, "slow", "v") == {"c2c_a"}
