"""UserSig v2: round trip, verification failures, and a known answer from Tencent's library."""

import base64
import json
import time
import zlib

import pytest
import TLSSigAPIv2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sdk import codes, usersig
from streams_devkit.emulator.server import verify_usersig

KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
NOW = 1_700_000_000


def test_round_trip_fields() -> None:
    sig = usersig.generate(1400000000, "administrator", KEY, issued_at=NOW, expire_s=86400)
    claims = usersig.verify(sig, KEY, now=NOW + 10)
    assert claims == usersig.UserSigClaims("administrator", 1400000000, NOW, 86400)
    assert claims.expires_at == NOW + 86400
    assert set(sig) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_")


def test_known_answer_matches_tencent_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: float(NOW))
    theirs = TLSSigAPIv2.TLSSigAPIv2(1400000000, KEY).gen_sig("administrator", 86400)
    ours = usersig.generate(1400000000, "administrator", KEY, issued_at=NOW, expire_s=86400)
    assert usersig.decode(ours) == usersig.decode(theirs)
    assert ours == theirs
    assert usersig.verify(theirs, KEY, now=NOW).identifier == "administrator"


def test_wrong_key_is_a_mismatch() -> None:
    sig = usersig.generate(1, "admin", KEY, issued_at=NOW, expire_s=600)
    with pytest.raises(usersig.UserSigError, match="does not match") as info:
        usersig.verify(sig, "another-key", now=NOW)
    assert not info.value.expired


def test_expired_signature() -> None:
    sig = usersig.generate(1, "admin", KEY, issued_at=NOW, expire_s=600)
    with pytest.raises(usersig.UserSigError) as info:
        usersig.verify(sig, KEY, now=NOW + 601)
    assert info.value.expired


@pytest.mark.parametrize("sig", ["", "not base64!", "AAAA", "eJzLSM3JyQcABiwCFQ__"])
def test_undecodable_signatures(sig: str) -> None:
    with pytest.raises(usersig.UserSigError):
        usersig.verify(sig, KEY, now=NOW)


def test_decompression_bomb_is_refused() -> None:
    bomb = base64.b64encode(zlib.compress(b"{" + b" " * 1_000_000 + b"}")).decode()
    with pytest.raises(usersig.UserSigError, match="too large"):
        usersig.decode(bomb.replace("+", "*").replace("/", "-").replace("=", "_"))


def claims_doc(**changes: object) -> dict[str, object]:
    """The document of a valid UserSig, with some claims replaced."""
    sig = usersig.generate(1, "admin", KEY, issued_at=NOW, expire_s=600)
    return {**usersig.decode(sig), **changes}


def packed_json(doc: object) -> str:
    return usersig.pack(json.dumps(doc).encode())  # json writes NaN and Infinity as JS does


@pytest.mark.parametrize(
    "sig",
    [
        pytest.param(usersig.pack(b"[" * 2000 + b"]" * 2000), id="deeply-nested"),
        pytest.param(usersig.pack(b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}"), id="nested-in"),
        pytest.param(usersig.pack(b"{" + b" " * 10_000_000 + b"}"), id="zlib-bomb"),
        pytest.param(usersig.pack(b'{"TLS.sig": "x"}')[:-8], id="truncated"),
        pytest.param(packed_json(claims_doc(**{"TLS.sig": "sïg"})), id="non-ascii-sig"),
        pytest.param(packed_json(claims_doc(**{"TLS.identifier": "\ud800"})), id="surrogate"),
        pytest.param(packed_json(claims_doc(**{"TLS.time": float("inf")})), id="infinity"),
        pytest.param(packed_json(claims_doc(**{"TLS.time": float("nan")})), id="nan"),
        pytest.param(packed_json(claims_doc(**{"TLS.time": 1e300})), id="huge-float"),
        pytest.param(packed_json(claims_doc(**{"TLS.expire": 2**64})), id="huge-int"),
        pytest.param(packed_json(claims_doc(**{"TLS.time": -1})), id="negative"),
        pytest.param(packed_json(claims_doc(**{"TLS.time": float(NOW)})), id="float-time"),
        pytest.param(packed_json(claims_doc(**{"TLS.time": True})), id="bool-time"),
        pytest.param(packed_json(claims_doc(**{"TLS.sdkappid": "1"})), id="string-sdkappid"),
        pytest.param(packed_json(claims_doc(**{"TLS.identifier": [1]})), id="list-identifier"),
        pytest.param(packed_json([claims_doc()]), id="not-an-object"),
    ],
)
def test_malformed_documents_are_malformed_usersigs(sig: str) -> None:
    with pytest.raises(usersig.MalformedUserSigError):
        usersig.verify(sig, KEY, now=NOW)
    answer = verify_usersig(sig, KEY)
    assert isinstance(answer, tuple) and answer[0] == codes.USERSIG_UNPARSEABLE


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_CLAIMS = ("TLS.identifier", "TLS.sdkappid", "TLS.time", "TLS.expire", "TLS.sig", "TLS.ver")
_HOSTILE_TEXT = st.text(st.characters(categories=["Cs", "Cc", "Lo", "Nd"]), max_size=8)
#: A valid document with claims removed or replaced by any JSON value, surrogates included.
_DOCS = st.builds(
    lambda removed, changes: {k: v for k, v in claims_doc(**changes).items() if k not in removed},
    st.sets(st.sampled_from(_CLAIMS), max_size=2),
    st.dictionaries(st.sampled_from(_CLAIMS), _JSON | _HOSTILE_TEXT, max_size=3),
)
_DOCUMENTS = st.one_of(
    st.binary(max_size=300),
    _JSON.map(lambda value: json.dumps(value).encode()),
    _DOCS.map(lambda doc: json.dumps(doc).encode()),
    st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
)
_HOSTILE_SIGS = st.one_of(
    st.text(max_size=300),
    _DOCUMENTS.map(usersig.pack),
    st.tuples(_DOCUMENTS.map(usersig.pack), st.integers(1, 20)).map(lambda t: t[0][: -t[1]]),
)


@settings(max_examples=500, deadline=None)
@given(_HOSTILE_SIGS)
def test_verification_answers_any_input_with_a_code(sig: str) -> None:
    answer = verify_usersig(sig, KEY)
    if isinstance(answer, usersig.UserSigClaims):  # only an untouched, validly signed document
        assert usersig.verify(sig, KEY, now=NOW) == answer
        return
    code, info = answer
    assert code in (codes.USERSIG_UNPARSEABLE, codes.USERSIG_MISMATCH)
    assert info and isinstance(info, str)
