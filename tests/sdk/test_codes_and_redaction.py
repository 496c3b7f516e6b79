"""Retry classification, SDK code mapping and redaction of query strings."""

import pytest

from streams.errors import redact
from streams.sdk import codes


@pytest.mark.parametrize(
    "code", [50004, 50005, 60007, 60008, 60011, 60018, 60019, 70169, 70500, -1, -3]
)
def test_retryable_codes(code: int) -> None:
    assert codes.is_retryable(code)


@pytest.mark.parametrize("code", [0, 50002, 51006, 51007, 51008, 60006, 70001, 70003, 70009])
def test_permanent_codes(code: int) -> None:
    assert not codes.is_retryable(code)


def test_http_errors_retry_only_on_5xx() -> None:
    assert codes.is_retryable(codes.HTTP_ERROR, 503)
    assert not codes.is_retryable(codes.HTTP_ERROR, 404)
    assert not codes.is_retryable(codes.HTTP_ERROR, None)


@pytest.mark.parametrize(
    ("rest", "sdk"),
    [
        (60007, 7008),
        (60011, 7008),
        (60018, 7008),
        (60019, 7008),
        (70001, 6206),
        (50002, 6017),
        (51006, 6017),
        (51007, 51007),
        (0, 0),
    ],
)
def test_rest_to_sdk_codes(rest: int, sdk: int) -> None:
    assert codes.to_sdk_code(rest) == sdk


def test_redact_strips_query_strings() -> None:
    text = (
        "Cannot connect to http://im.example/v4/recentcontact/mark_contact"
        "?sdkappid=1&usersig=eJzSECRET&random=5 (refused)"
    )
    out = redact(text)
    assert "SECRET" not in out and "usersig" not in out
    assert out.startswith("Cannot connect to http://im.example/v4/recentcontact/mark_contact?")
    assert out.endswith(" (refused)")
