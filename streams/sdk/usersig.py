"""UserSig v2: the credential Tencent Cloud Chat REST calls carry for the admin identifier.

Format (Tencent's ``tls-sig-api-v2``): a JSON document with the HMAC-SHA256 of the identifier,
app id, issue time and lifetime, zlib-compressed and encoded in a URL-safe base64 variant
(``+`` -> ``*``, ``/`` -> ``-``, ``=`` -> ``_``). Generated here so deployments need only the
secret key; verified by the emulator with the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from dataclasses import dataclass

_TO_URL = str.maketrans({"+": "*", "/": "-", "=": "_"})
_FROM_URL = str.maketrans({"*": "+", "-": "/", "_": "="})
#: Bound on a decoded signature document; real ones are ~200 bytes.
_MAX_SIG_DOC = 4096


class UserSigError(ValueError):
    """A UserSig that cannot be decoded, does not match, or has expired."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class UserSigClaims:
    """The verified fields of a UserSig."""

    identifier: str
    sdkappid: int
    issued_at: int
    expire_s: int

    @property
    def expires_at(self) -> int:
        """Unix time after which the signature is no longer valid."""
        return self.issued_at + self.expire_s


def _digest(identifier: str, sdkappid: int, issued_at: int, expire_s: int, key: str) -> str:
    content = (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{issued_at}\n"
        f"TLS.expire:{expire_s}\n"
    )
    mac = hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def generate(sdkappid: int, identifier: str, key: str, *, issued_at: int, expire_s: int) -> str:
    """Return a UserSig for ``identifier`` valid from ``issued_at`` for ``expire_s`` seconds."""
    doc = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire_s,
        "TLS.time": issued_at,
        "TLS.sig": _digest(identifier, sdkappid, issued_at, expire_s, key),
    }
    packed = zlib.compress(json.dumps(doc).encode())
    return base64.b64encode(packed).decode().translate(_TO_URL)


def decode(sig: str) -> dict[str, object]:
    """Decode a UserSig into its JSON document without checking it."""
    try:
        packed = base64.b64decode(sig.translate(_FROM_URL), validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_SIG_DOC)
    except (ValueError, zlib.error) as exc:
        raise UserSigError(f"UserSig is not decodable: {type(exc).__name__}") from None
    if inflater.unconsumed_tail:
        raise UserSigError("UserSig document too large")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise UserSigError("UserSig document is not JSON") from None
    if not isinstance(doc, dict):
        raise UserSigError("UserSig document is not an object")
    return doc


def verify(sig: str, key: str, *, now: int) -> UserSigClaims:
    """Check a UserSig's HMAC with ``key`` and its lifetime at ``now``; return its claims."""
    doc = decode(sig)
    try:
        identifier = str(doc["TLS.identifier"])
        sdkappid = int(doc["TLS.sdkappid"])  # type: ignore[call-overload]
        issued_at = int(doc["TLS.time"])  # type: ignore[call-overload]
        expire_s = int(doc["TLS.expire"])  # type: ignore[call-overload]
        mac = str(doc["TLS.sig"])
    except (KeyError, TypeError, ValueError):
        raise UserSigError("UserSig document lacks required fields") from None
    expected = _digest(identifier, sdkappid, issued_at, expire_s, key)
    if not hmac.compare_digest(mac, expected):
        raise UserSigError("UserSig signature does not match")
    claims = UserSigClaims(identifier, sdkappid, issued_at, expire_s)
    if now > claims.expires_at:
        raise UserSigError("UserSig expired", expired=True)
    return claims
