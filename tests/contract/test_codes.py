"""The codes documented in the schemas are the ones the client reports, with its retry policy."""

from __future__ import annotations

import re

import pytest

from streams.contract.codes import (
    OUTCOME_CODES,
    TENCENT_ERROR_CODES_URL,
    VALUE_CALLBACK_CODES,
    Retry,
    outcome_code_description,
    value_callback_code_description,
)
from streams.contract.generate import DIRECTORY
from streams.sdk import codes

#: Every int constant of streams/sdk/codes.py, by name.
CONSTANTS = {
    name: value
    for name, value in vars(codes).items()
    if name.isupper() and isinstance(value, int) and not isinstance(value, bool)
}
SDK_CONSTANTS = {name: value for name, value in CONSTANTS.items() if name.startswith("SDK_")}
#: What can be an outcome's code: OK, the client's own codes and the REST codes.
OUTCOME_CONSTANTS = {name: value for name, value in CONSTANTS.items() if name not in SDK_CONSTANTS}


def test_the_constants_are_found() -> None:
    assert OUTCOME_CONSTANTS["OK"] == 0 and OUTCOME_CONSTANTS["HTTP_ERROR"] == -2
    assert SDK_CONSTANTS["SDK_INVALID_PARAMETER"] == 6017
    assert len(OUTCOME_CONSTANTS) >= 25


@pytest.mark.parametrize(("name", "code"), sorted(OUTCOME_CONSTANTS.items()))
def test_every_code_an_outcome_can_carry_is_documented(name: str, code: int) -> None:
    assert code in OUTCOME_CODES, f"document {name} ({code}) in streams/contract/codes.py"


@pytest.mark.parametrize("code", sorted(OUTCOME_CODES))
def test_documented_retry_class_is_the_client_policy(code: int) -> None:
    retry = OUTCOME_CODES[code].retry
    assert code in OUTCOME_CONSTANTS.values(), "documented but unknown to streams/sdk/codes.py"
    if code == codes.OK:
        assert retry is Retry.NONE
    elif code == codes.HTTP_ERROR:
        assert retry is Retry.RETRIED_IF_5XX
        assert codes.is_retryable(code, 503) and not codes.is_retryable(code, 404)
    elif code in codes.FREQUENCY_LIMIT_CODES:
        assert retry is Retry.FREQUENCY_LIMIT and codes.is_retryable(code)
    elif codes.is_retryable(code):
        assert retry is Retry.RETRIED
    else:
        assert retry is Retry.PERMANENT


def test_an_undocumented_rest_code_is_permanent_as_the_description_says() -> None:
    unknown = 99999
    assert unknown not in OUTCOME_CODES and not codes.is_retryable(unknown)
    assert "a code not listed here is permanent" in outcome_code_description()


def test_every_sdk_code_is_documented_with_the_rest_codes_mapped_to_it() -> None:
    assert set(SDK_CONSTANTS.values()) | {codes.OK} == set(VALUE_CALLBACK_CODES)
    rest_codes = [c for c in OUTCOME_CONSTANTS.values() if c > 0]
    for sdk_code, doc in VALUE_CALLBACK_CODES.items():
        mapped = {rest for rest in rest_codes if codes.to_sdk_code(rest) == sdk_code}
        assert set(doc.from_rest) == mapped, sdk_code
    # Every REST code not mapped is reported verbatim (the description's "otherwise").
    for rest in rest_codes:
        assert codes.to_sdk_code(rest) in VALUE_CALLBACK_CODES or codes.to_sdk_code(rest) == rest


def _schema_lines(text: str) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(r"^(-?\d+): ", text, re.MULTILINE)}


def test_the_committed_schemas_list_every_documented_code() -> None:
    outcome = (DIRECTORY / "outcome.schema.json").read_text(encoding="utf-8")
    callback = (DIRECTORY / "value_callback.schema.json").read_text(encoding="utf-8")
    assert _schema_lines(outcome_code_description()) == set(OUTCOME_CODES)
    assert _schema_lines(value_callback_code_description()) == set(VALUE_CALLBACK_CODES)
    for text in (outcome, callback):
        assert TENCENT_ERROR_CODES_URL in text
    assert "60011: app-wide request frequency limit (retried; the worker also slows down)" in (
        outcome.replace("\\n", "\n")
    )


def test_contract_md_s_code_table_has_the_retry_policy() -> None:
    text = (DIRECTORY.parent / "docs" / "CONTRACT.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    retried = [c for c in codes.RETRYABLE_CODES - codes.FREQUENCY_LIMIT_CODES if c > 0]
    assert rows[", ".join(map(str, sorted(retried)))].rstrip().endswith("| yes |")
    limits = ", ".join(map(str, sorted(codes.FREQUENCY_LIMIT_CODES)))
    assert "slows down" in rows[limits]
    for code in (codes.OK, codes.TRANSPORT_ERROR, codes.HTTP_ERROR, codes.MALFORMED_RESPONSE):
        assert str(code) in rows
    permanent = [c for c in OUTCOME_CODES if c > 0 and not codes.is_retryable(c)]
    assert all(str(c) in rows["any other"] for c in permanent)
