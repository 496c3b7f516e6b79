"""The seed API: ``setConversationCustomData`` with the Tencent Chat SDK's result shape.

``set_conversation_custom_data(user_id, conversation_ids, custom_data)`` answers like the SDK's
``V2TimValueCallback<List<V2TimConversationOperationResult>>``: an overall ``code``/``desc`` and
one result per requested conversation. Invalid input is answered with 6017 before any request is
sent; REST codes are mapped to the SDK's (60007 -> 7008, 70001 -> 6206, 50002 -> 6017, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streams.contract import ConversationOperationResult, ValueCallback
from streams.contract.models import check_account_id, check_conversation_id, check_custom_data
from streams.sdk import codes
from streams.sdk.client import TencentIMClient
from streams.sdk.types import RequestResult


def _problem(validate: Callable[[str], str], value: str, what: str) -> str | None:
    """Run one of the schema validators and phrase its complaint, or None when valid."""
    try:
        validate(value)
    except ValueError as exc:
        return f"invalid {what}: {what} {exc}"
    return None


class ConversationManager:
    """The conversation part of the SDK, acting for any user through the admin REST API."""

    def __init__(self, client: TencentIMClient) -> None:
        self._client = client

    async def set_conversation_custom_data(
        self, user_id: str, conversation_ids: Sequence[str], custom_data: str
    ) -> ValueCallback:
        """Set the same ``custom_data`` on every conversation in ``conversation_ids``."""
        problem = _problem(check_custom_data, custom_data, "customData")
        if problem is not None:
            return _rejected_call(problem, conversation_ids)
        return await self.set_conversation_custom_data_batch(
            user_id, [(cid, custom_data) for cid in conversation_ids]
        )

    async def set_conversation_custom_data_batch(
        self, user_id: str, values: Sequence[tuple[str, str]]
    ) -> ValueCallback:
        """Set a different value per conversation of one user (split into requests of 100)."""
        conversation_ids = [cid for cid, _ in values]
        if not values:
            return _rejected_call("invalid conversationIDList: it is empty", conversation_ids)
        problem = _problem(check_account_id, user_id, "userID")
        if problem is not None:
            return _rejected_call(problem, conversation_ids)
        local: dict[int, ConversationOperationResult] = {}
        to_send: list[tuple[int, tuple[str, str]]] = []
        for index, (cid, data) in enumerate(values):
            problem = _problem(check_conversation_id, cid, "conversationID") or _problem(
                check_custom_data, data, "customData"
            )
            if problem is None:
                to_send.append((index, (cid, data)))
            else:
                local[index] = _result(cid, codes.SDK_INVALID_PARAMETER, problem)
        requests = await self._client.set_custom_data(user_id, [pair for _, pair in to_send])
        items = [item for request in requests for item in request.items]
        for (index, _), item in zip(to_send, items, strict=True):
            local[index] = _result(item.conversation_id, codes.to_sdk_code(item.code), item.info)
        code, desc = _overall(requests)
        return ValueCallback(code=code, desc=desc, data=[local[i] for i in range(len(values))])


def _result(conversation_id: str, code: int, info: str) -> ConversationOperationResult:
    return ConversationOperationResult(
        conversation_id=conversation_id, result_code=code, result_info=info
    )


def _rejected_call(desc: str, conversation_ids: Sequence[str]) -> ValueCallback:
    data = [_result(cid, codes.SDK_INVALID_PARAMETER, desc) for cid in conversation_ids]
    return ValueCallback(code=codes.SDK_INVALID_PARAMETER, desc=desc, data=data)


def _overall(requests: Sequence[RequestResult]) -> tuple[int, str]:
    """The call's code: that of the first request refused as a whole, else 0 (per-item codes)."""
    for request in requests:
        if request.code != codes.OK:
            return codes.to_sdk_code(request.code), request.info
    return codes.OK, "OK"
