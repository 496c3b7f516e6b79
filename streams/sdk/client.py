"""The ``tencent`` backend: Tencent Cloud Chat REST calls over one pool of kept-alive connections.

``mark_contact`` (OptType 2, CustomMark) sets the custom data of up to 100 conversations of one
user per request, each with its own value; ``get_list`` reads them back. Every failure becomes a
result with a code and a retry class instead of an exception, so the pipeline can retry exactly
the affected conversations. The UserSig rides in the query string, so no URL ever reaches a
result, a log line or an exception message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import quote

import orjson

from streams import __version__
from streams.contract.limits import MAX_ITEMS_PER_REQUEST
from streams.errors import redact
from streams.sdk import codes, usersig
from streams.sdk.config import IMSettings
from streams.sdk.transport import HTTPPool, TransportError
from streams.sdk.types import ItemResult, RequestResult

log = logging.getLogger(__name__)

MARK_CONTACT_PATH: Final = "/v4/recentcontact/mark_contact"
GET_LIST_PATH: Final = "/v4/recentcontact/get_list"
#: Responses are small (one ResultItem per conversation); refuse anything absurd.
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
MAX_INFO_CHARS: Final = 512
#: Renew the UserSig this long before it expires, so no request carries an expiring one.
USERSIG_RENEW_MARGIN_S: Final = 300
#: get_list pages; a user has at most 1000 marked conversations, so this bounds a read-back.
MAX_LIST_PAGES: Final = 200
USER_AGENT: Final = f"conversation-custom-data-streams/{__version__}"


def contact_item(conversation_id: str) -> dict[str, Any]:
    """The REST ContactItem for ``c2c_<user>`` / ``group_<group>`` (validated by the caller)."""
    if conversation_id.startswith("c2c_"):
        return {"Type": 1, "To_Account": conversation_id[4:]}
    if conversation_id.startswith("group_"):
        return {"Type": 2, "ToGroupId": conversation_id[6:]}
    raise ValueError("conversation id must start with 'c2c_' or 'group_'")


def conversation_id_of(item: Any) -> str | None:
    """The conversation id a ContactItem or SessionItem names, or None if it names none."""
    if not isinstance(item, dict):
        return None
    kind, account = item.get("Type"), item.get("To_Account")
    group = item.get("ToGroupId", item.get("GroupId"))
    if kind == 1 and isinstance(account, str):
        return f"c2c_{account}"
    if kind == 2 and isinstance(group, str):
        return f"group_{group}"
    return None


def _short(text: object) -> str:
    return redact(str(text))[:MAX_INFO_CHARS]


class IMRequestError(Exception):
    """A REST call that did not produce a usable answer (used by read-back, not by writes)."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(f"IM request failed with code {code}: {info}")
        self.code = code
        self.info = info


class TencentIMClient:
    """Async client for the IM REST API; one instance per process, closed with ``close()``."""

    def __init__(
        self,
        settings: IMSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._pool: HTTPPool | None = None
        self._sig: tuple[str, float] | None = None  # (query-encoded usersig, renew after)
        self._query = (
            f"?sdkappid={settings.sdkappid}&identifier={quote(settings.admin, safe='')}"
            "&contenttype=json&usersig="
        )
        # The REST API's ``random`` parameter only tells requests apart (it is echoed back), so
        # a ``random`` draw will do; ``secrets`` per request cost more (bench/PROFILE.md).
        self._ids = random.Random()  # noqa: S311

    async def __aenter__(self) -> TencentIMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pooled connections (idempotent)."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _http(self) -> HTTPPool:
        # Created lazily so the pool binds to the running event loop.
        if self._pool is None:
            self._pool = HTTPPool(
                self._settings.endpoint,
                max_connections=self._settings.max_connections,
                timeout_s=self._settings.timeout_s,
                max_body=MAX_RESPONSE_BYTES,
                user_agent=USER_AGENT,
            )
        return self._pool

    def _usersig(self) -> str:
        """The UserSig, percent-encoded for the query string, renewed before it expires."""
        now = self._clock()
        if self._sig is None or now >= self._sig[1]:
            ttl = self._settings.usersig_ttl_s
            sig = usersig.generate(
                self._settings.sdkappid,
                self._settings.admin,
                self._settings.secret_key.get_secret_value(),
                issued_at=int(now),
                expire_s=ttl,
            )
            renew_after = now + ttl - min(USERSIG_RENEW_MARGIN_S, ttl / 10)
            self._sig = (quote(sig, safe=""), renew_after)
        return self._sig[0]

    async def _call(self, path: str, body: dict[str, Any]) -> tuple[str, int, str, int | None, Any]:
        """POST one REST call; return (request id, code, info, HTTP status, parsed body)."""
        request_id = str(self._ids.getrandbits(32))
        target = f"{path}{self._query}{self._usersig()}&random={request_id}"
        try:
            # The pool never follows a redirect: that would send the custom data (307/308
            # re-send the body) to whatever host the Location names, and a Location that copies
            # the query string the UserSig with it. A 3xx is a permanent failure instead.
            response = await self._http().post(target, orjson.dumps(body))
        except (TimeoutError, TransportError, OSError) as exc:
            info = _short(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__
            return request_id, codes.TRANSPORT_ERROR, info, None, None
        status, raw = response.status, response.body
        if 300 <= status < 400:
            info = f"HTTP {status} redirect refused (Location not followed)"
            return request_id, codes.HTTP_ERROR, info, status, None
        if status != 200:
            return request_id, codes.HTTP_ERROR, f"HTTP {status}", status, None
        if response.too_large:
            return request_id, codes.MALFORMED_RESPONSE, "response too large", status, None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return request_id, codes.MALFORMED_RESPONSE, "response is not JSON", status, None
        if not isinstance(doc, dict) or not isinstance(doc.get("ErrorCode", 0), int):
            return request_id, codes.MALFORMED_RESPONSE, "response is not an object", status, None
        code = doc.get("ErrorCode", 0)
        if code == codes.OK and doc.get("ActionStatus") != "OK":
            return request_id, codes.MALFORMED_RESPONSE, "ActionStatus is not OK", status, None
        return request_id, code, _short(doc.get("ErrorInfo", "")), status, doc

    async def mark(self, user_id: str, values: Sequence[tuple[str, str]]) -> RequestResult:
        """Set each (conversation id, custom data) of ``user_id`` in one request (at most 100)."""
        if not 0 < len(values) <= MAX_ITEMS_PER_REQUEST:
            raise ValueError(f"a request carries 1..{MAX_ITEMS_PER_REQUEST} conversations")
        body = {
            "From_Account": user_id,
            "MarkItem": [
                {"OptType": 2, "ContactItem": contact_item(cid), "CustomMark": data}
                for cid, data in values
            ],
        }
        request_id, code, info, status, doc = await self._call(MARK_CONTACT_PATH, body)
        if code == codes.OK:
            items = self._item_results(request_id, [cid for cid, _ in values], doc)
            if items is not None:
                return RequestResult(request_id, code, info, status, items)
            code, info = codes.MALFORMED_RESPONSE, "ResultItem missing or does not match request"
        retryable = codes.is_retryable(code, status)
        log.debug("mark_contact %s failed: code=%s %s", request_id, code, info)
        items = tuple(ItemResult(cid, code, info, request_id, retryable) for cid, _ in values)
        return RequestResult(request_id, code, info, status, items)

    @staticmethod
    def _item_results(
        request_id: str, requested: list[str], doc: Any
    ) -> tuple[ItemResult, ...] | None:
        """Map ResultItem to the requested conversations, or None if they do not line up."""
        result_items = doc.get("ResultItem")
        if not isinstance(result_items, list) or len(result_items) != len(requested):
            return None
        results = []
        for cid, item in zip(requested, result_items, strict=True):
            if not isinstance(item, dict) or conversation_id_of(item.get("ContactItem")) != cid:
                return None
            code = item.get("ResultCode")
            if not isinstance(code, int):
                return None
            info = _short(item.get("ResultInfo", ""))
            results.append(ItemResult(cid, code, info, request_id, codes.is_retryable(code)))
        return tuple(results)

    async def set_custom_data(
        self, user_id: str, values: Sequence[tuple[str, str]]
    ) -> list[RequestResult]:
        """Set any number of conversations in requests of 100; results in input order."""
        return [
            await self.mark(user_id, values[start : start + MAX_ITEMS_PER_REQUEST])
            for start in range(0, len(values), MAX_ITEMS_PER_REQUEST)
        ]

    async def get_custom_data(self, user_id: str) -> dict[str, str]:
        """Read back the custom data of ``user_id``'s conversations (``get_list``, all pages)."""
        marks: dict[str, str] = {}
        cursor = {"TimeStamp": 0, "StartIndex": 0, "TopTimeStamp": 0, "TopStartIndex": 0}
        for _ in range(MAX_LIST_PAGES):
            body = {"From_Account": user_id, "AssistFlags": 15, **cursor}
            _, code, info, _, doc = await self._call(GET_LIST_PATH, body)
            if code != codes.OK:
                raise IMRequestError(code, info)
            for session in doc.get("SessionItem") or []:
                cid = conversation_id_of(session)
                mark = session.get("CustomMark") if isinstance(session, dict) else None
                if cid is not None and isinstance(mark, str):
                    marks[cid] = mark
            if doc.get("CompleteFlag") == 1:
                return marks
            cursor = {key: int(doc.get(key, 0)) for key in cursor}
        raise IMRequestError(codes.MALFORMED_RESPONSE, "get_list did not complete")
