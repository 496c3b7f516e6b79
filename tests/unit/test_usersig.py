"""UserSig v2: round trip, verification failures, and a known answer from Tencent's library."""

import base64
import time
import zlib

import pytest
import TLSSigAPIv2

from streams.sdk import usersig

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
