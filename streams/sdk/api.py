"""The seed API: ``setConversationCustomData`` with the Tencent Chat SDK's result shape.

``set_conversation_custom_data(user_id, conversation_ids, custom_data)`` answers like the SDK's
``V2TimValueCallback<List<V2TimConversationOperationResult>>``: an overall ``code``/``desc`` and
one result per requested conversation, in input order. REST codes are mapped to the SDK's
(60007 -> 7008, 70001 -> 6206, 50002 -> 6017, ...).

The rule (docs/CONTRACT.md, "The SDK layer"), made so that a caller following the seed's own
example -- walk ``data`` only when ``code == 0``, otherwise treat the call as failed as a whole --
never misses a conversation that was set and never reads ``code 0`` when none was:

1. One call is one ``mark_contact`` request, so it carries at most 100 conversations (the REST
   limit per request; the SDK's sibling ``deleteConversationList`` documents the same 100 per
   call). An empty list, more than 100 conversations, an invalid ``userID`` or a ``customData``
   over 256 UTF-8 bytes refuse the whole call with 6017 before anything is sent; every
   conversation is listed in ``data`` with 6017. A caller with more splits them into calls.
2. An invalid conversation id is answered 6017 in its own entry and not sent; the valid ones go
   out together in the one request.
3. When that request fails as a whole (frequency limit 7008, UserSig 6206/70009, HTTP, transport,
   malformed answer), ``code`` is that failure's code: the server applied none of it (but see
   the outcome it does not report, below).
4. Otherwise ``code`` is 0 exactly when at least one conversation was set, and ``data`` holds
   each conversation's own result (0 for set, its own error otherwise). When none was set (all
   invalid, or every one refused by the server), ``code`` is the first conversation's code and
   ``desc`` says that none was set.

So ``code == 0`` means "the conversations whose ``resultCode`` is 0 were set, the others were
not", and ``code != 0`` means "none was set". One outcome the server does not tell: a transport
failure or timeout (-1), an HTTP 5xx (-2) or a malformed answer (-3) may come after the request
was applied. The call reports it as failed, and since setting a value is idempotent, repeating
the same call is the remedy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streams.contract import ConversationOperationResult, ValueCallback
from streams.contract.limits import MAX_ITEMS_PER_REQUEST
from streams.contract.models import check_account_id, check_conversation_id, check_custom_data
from streams.sdk import codes
from streams.sdk.client import TencentIMClient


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
        """Set the same ``custom_data`` on every conversation in ``conversation_ids`` (1..100)."""
        problem = _problem(check_custom_data, custom_data, "customData")
        if problem is not None:
            return _rejected_call(problem, conversation_ids)
        return await self.set_conversation_custom_data_batch(
            user_id, [(cid, custom_data) for cid in conversation_ids]
        )

    async def set_conversation_custom_data_batch(
        self, user_id: str, values: Sequence[tuple[str, str]]
    ) -> ValueCallback:
        """Set a different value per conversation of one user, 1..100 in one request."""
        conversation_ids = [cid for cid, _ in values]
        if not values:
            return _rejected_call("invalid conversationIDList: it is empty", conversation_ids)
        if len(values) > MAX_ITEMS_PER_REQUEST:
            too_many = (
                f"invalid conversationIDList: {len(values)} conversations, at most "
                f"{MAX_ITEMS_PER_REQUEST} per call; nothing was sent"
            )
            return _rejected_call(too_many, conversation_ids)
        problem = _problem(check_account_id, user_id, "userID")
        if problem is not None:
            return _rejected_call(problem, conversation_ids)
        results: dict[int, ConversationOperationResult] = {}
        to_send: list[tuple[int, tuple[str, str]]] = []
        for index, (cid, value) in enumerate(values):
            problem = _problem(check_conversation_id, cid, "conversationID") or _problem(
                check_custom_data, value, "customData"
            )
            if problem is None:
                to_send.append((index, (cid, value)))
            else:
                results[index] = _result(cid, codes.SDK_INVALID_PARAMETER, problem)
        failed_request: tuple[int, str] | None = None
        if to_send:
            request = await self._client.mark(user_id, [pair for _, pair in to_send])
            for (index, _), item in zip(to_send, request.items, strict=True):
                results[index] = _result(
                    item.conversation_id, codes.to_sdk_code(item.code), item.info
                )
            if request.code != codes.OK:
                failed_request = codes.to_sdk_code(request.code), request.info
        data = [results[i] for i in range(len(values))]
        code, desc = failed_request or _overall(data)
        return ValueCallback(code=code, desc=desc, data=data)


def _result(conversation_id: str, code: int, info: str) -> ConversationOperationResult:
    return ConversationOperationResult(
        conversation_id=conversation_id, result_code=code, result_info=info
    )


def _rejected_call(desc: str, conversation_ids: Sequence[str]) -> ValueCallback:
    data = [_result(cid, codes.SDK_INVALID_PARAMETER, desc) for cid in conversation_ids]
    return ValueCallback(code=codes.SDK_INVALID_PARAMETER, desc=desc, data=data)


def _overall(data: Sequence[ConversationOperationResult]) -> tuple[int, str]:
    """0 when at least one conversation was set, else the first conversation's own code."""
    if any(result.result_code == codes.OK for result in data):
        return codes.OK, "OK"
    first = data[0]
    return first.result_code, f"none of the {len(data)} conversations was set: {first.result_info}"
