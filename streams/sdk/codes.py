"""Tencent Cloud Chat REST error codes, their retry class, and the SDK codes the seed API reports.

The classification is the pipeline's retry policy in one place: retryable codes are transient
(server load, frequency limits, timeouts) and are retried for the affected conversations only;
everything else is permanent and becomes a ``failed`` outcome at once.
"""

from typing import Final

OK: Final = 0

# Codes the client itself reports when no REST code exists (network, HTTP status, bad body).
#: Connection refused/reset, timeout: the request may or may not have reached the server.
TRANSPORT_ERROR: Final = -1
#: HTTP status other than 200 from the endpoint (5xx retryable, others permanent).
HTTP_ERROR: Final = -2
#: 200 with a body that is not the documented response shape.
MALFORMED_RESPONSE: Final = -3

# REST codes (https://cloud.tencent.com/document/product/269/1671).
INTERNAL_50004: Final = 50004
INTERNAL_50005: Final = 50005
BAD_PARAMS: Final = 50002
TOO_MANY_ITEMS: Final = 51006
NOT_IN_GROUP: Final = 51007
MARK_CAP_REACHED: Final = 51008
JSON_PARSE_ERROR: Final = 60003
BAD_SDKAPPID: Final = 60006
REST_FREQUENCY_LIMIT: Final = 60007
SERVICE_TIMEOUT: Final = 60008
ADMIN_REQUIRED: Final = 60010
APP_FREQUENCY_LIMIT: Final = 60011
TOO_FREQUENT_60018: Final = 60018
TOO_FREQUENT_60019: Final = 60019
USERSIG_EXPIRED: Final = 70001
USERSIG_UNPARSEABLE: Final = 70003
USERSIG_MISMATCH: Final = 70009
USERSIG_IDENTIFIER_MISMATCH: Final = 70013
USERSIG_SDKAPPID_MISMATCH: Final = 70014
SERVER_TIMEOUT: Final = 70169
SERVER_INTERNAL: Final = 70500

#: Frequency-limit answers: retry, and tell the rate limiter to slow down.
FREQUENCY_LIMIT_CODES: Final = frozenset(
    {REST_FREQUENCY_LIMIT, APP_FREQUENCY_LIMIT, TOO_FREQUENT_60018, TOO_FREQUENT_60019}
)

#: Transient REST codes (docs/CONTRACT.md, "Guarantees and their limits"), plus the client's
#: own transport/malformed classes.
RETRYABLE_CODES: Final = frozenset(
    {
        INTERNAL_50004,
        INTERNAL_50005,
        SERVICE_TIMEOUT,
        SERVER_TIMEOUT,
        SERVER_INTERNAL,
        TRANSPORT_ERROR,
        MALFORMED_RESPONSE,
    }
    | FREQUENCY_LIMIT_CODES
)

# SDK codes of the seed API (setConversationCustomData's V2TimValueCallback.code).
SDK_INVALID_PARAMETER: Final = 6017
SDK_NOT_LOGGED_IN: Final = 6014
SDK_USERSIG_EXPIRED: Final = 6206
SDK_FREQUENCY_LIMIT: Final = 7008

_REST_TO_SDK: Final = {
    REST_FREQUENCY_LIMIT: SDK_FREQUENCY_LIMIT,
    APP_FREQUENCY_LIMIT: SDK_FREQUENCY_LIMIT,
    TOO_FREQUENT_60018: SDK_FREQUENCY_LIMIT,
    TOO_FREQUENT_60019: SDK_FREQUENCY_LIMIT,
    USERSIG_EXPIRED: SDK_USERSIG_EXPIRED,
    BAD_PARAMS: SDK_INVALID_PARAMETER,
    TOO_MANY_ITEMS: SDK_INVALID_PARAMETER,
}


def is_retryable(code: int, http_status: int | None = None) -> bool:
    """Whether a failure with this REST (or client) code is worth retrying.

    HTTP errors are retryable only for 5xx: a 4xx from a gateway will not change on retry.
    """
    if code == HTTP_ERROR:
        return http_status is not None and http_status >= 500
    return code in RETRYABLE_CODES


def to_sdk_code(rest_code: int) -> int:
    """Map a REST code to the code the seed's SDK call reports (REST code verbatim otherwise)."""
    return _REST_TO_SDK.get(rest_code, rest_code)
