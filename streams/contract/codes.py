"""What the ``code`` of an outcome and of a ValueCallback means, documented in one place.

The JSON Schemas' descriptions of ``code`` are generated from these tables, and tests/contract
checks them against ``streams/sdk/codes.py`` (the codes the client reports and its retry policy),
which the contract does not import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

#: Tencent Cloud Chat's REST error codes; an outcome carries any of them verbatim.
TENCENT_ERROR_CODES_URL: Final = "https://cloud.tencent.com/document/product/269/1671"


class Retry(StrEnum):
    """What the worker does on a code (its retry policy, ``streams.sdk.codes.is_retryable``)."""

    NONE = "success"
    RETRIED = "retried"
    #: Retried, and the rate limiter cuts its rate (streams.core.rate_control: the adaptive
    #: policy takes what the IM accepted, the fixed split pauses and halves).
    FREQUENCY_LIMIT = "retried; the worker also slows down"
    RETRIED_IF_5XX = "retried when the HTTP status is 5xx, permanent otherwise"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Code:
    """One documented code: what it means and how the worker treats it."""

    meaning: str
    retry: Retry


_R, _F, _P = Retry.RETRIED, Retry.FREQUENCY_LIMIT, Retry.PERMANENT

#: Every ``code`` the worker's client reports, as an outcome carries it: 0, the client's own
#: negative codes, and the REST codes it treats specially. Any other code is a REST code verbatim
#: and permanent.
OUTCOME_CODES: Final[Mapping[int, Code]] = MappingProxyType(
    {
        0: Code("applied: the IM API set the value", Retry.NONE),
        -1: Code(
            "transport error (connection refused or reset, timeout): the request may or may not "
            "have reached the server",
            _R,
        ),
        -2: Code("HTTP status other than 200 (the status is in info)", Retry.RETRIED_IF_5XX),
        -3: Code("malformed response: HTTP 200 with a body not of the documented shape", _R),
        50002: Code("invalid parameters", _P),
        50004: Code("server internal error", _R),
        50005: Code("server internal error", _R),
        51006: Code("too many items in one request", _P),
        51007: Code("the user is not a member of this conversation's group", _P),
        51008: Code("the user already has the most marked conversations (1000)", _P),
        60003: Code("the server could not parse the request's JSON", _P),
        60006: Code("invalid SDKAppID", _P),
        60007: Code("REST request frequency limit", _F),
        60008: Code("service timeout", _R),
        60010: Code("the request needs the app administrator", _P),
        60011: Code("app-wide request frequency limit", _F),
        60018: Code("requests too frequent", _F),
        60019: Code("requests too frequent", _F),
        70001: Code("UserSig expired", _P),
        70003: Code("UserSig could not be parsed", _P),
        70009: Code("UserSig does not verify", _P),
        70013: Code("UserSig's identifier does not match the request's", _P),
        70014: Code("UserSig's SDKAppID does not match the request's", _P),
        70169: Code("server timeout", _R),
        70500: Code("server internal error", _R),
    }
)


@dataclass(frozen=True, slots=True)
class SdkCode:
    """A code of the seed API's ValueCallback and the REST codes reported as it."""

    meaning: str
    from_rest: tuple[int, ...] = ()


#: The codes a ValueCallback (and its ``resultCode``) reports other than a REST code verbatim.
VALUE_CALLBACK_CODES: Final[Mapping[int, SdkCode]] = MappingProxyType(
    {
        0: SdkCode(
            "at least one conversation was set: walk data for each one's own resultCode (a call "
            "with a non-zero code set none)"
        ),
        6017: SdkCode(
            "invalid parameter: the SDK refused the input before any request (for the whole "
            "call: no conversation, more than 100, a bad userID or a custom data over 256 UTF-8 "
            "bytes; in one conversation's result: a bad conversation id), or the server did",
            (50002, 51006),
        ),
        6014: SdkCode("not logged in (the seed API's code; this SDK signs every request)"),
        6206: SdkCode("UserSig expired", (70001,)),
        7008: SdkCode("request frequency limit", (60007, 60011, 60018, 60019)),
    }
)


def outcome_code_description() -> str:
    """The outcome schema's description of ``code``, from :data:`OUTCOME_CODES`."""
    lines = [
        "The IM request's result for this event; null when no request was made for it "
        "(rejected, duplicate, stale and superseded events). After retries (failed / "
        "retries_exhausted) the last attempt's code. 0 and the negative codes are the "
        "worker's client's own; any other value is Tencent Cloud Chat's REST error code "
        f"verbatim ({TENCENT_ERROR_CODES_URL}); a code not listed here is permanent.",
    ]
    lines += [f"{code}: {doc.meaning} ({doc.retry})." for code, doc in OUTCOME_CODES.items()]
    return "\n".join(lines)


def value_callback_code_description() -> str:
    """The ValueCallback schema's description of ``code`` / ``resultCode``."""
    lines = [
        "The seed API's code: one of these, or otherwise the REST error code verbatim "
        f"({TENCENT_ERROR_CODES_URL}), or the client's own -1 (transport error), -2 (HTTP "
        "status other than 200) or -3 (malformed response). A non-zero call code means no "
        "conversation was set: the request's own failure, or, when every conversation was "
        "refused one by one, the first conversation's code.",
    ]
    for code, doc in VALUE_CALLBACK_CODES.items():
        rest = f" (REST {', '.join(map(str, doc.from_rest))})" if doc.from_rest else ""
        lines.append(f"{code}: {doc.meaning}{rest}.")
    return "\n".join(lines)
