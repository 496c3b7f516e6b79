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
#: The numeric claims are 64-bit integers in Tencent's implementations.
_MAX_CLAIM = 2**63 - 1


class UserSigError(ValueError):
    """A UserSig that cannot be decoded, does not match, or has expired."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class MalformedUserSigError(UserSigError):
    """Not a UserSig at all: undecodable, too large, or a document without well-typed claims."""


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
    return pack(json.dumps(doc).encode())


def pack(document: bytes) -> str:
    """A signature document compressed and encoded the way UserSigs travel."""
    return base64.b64encode(zlib.compress(document)).decode().translate(_TO_URL)


def decode(sig: str) -> dict[str, object]:
    """Decode a UserSig into its JSON document without checking it.

    Raises only MalformedUserSigError, whatever the input: the decompressed size is bounded and
    a nesting too deep for the JSON parser is refused like any other bad document.
    """
    try:
        packed = base64.b64decode(sig.translate(_FROM_URL), validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_SIG_DOC)
    except (ValueError, zlib.error) as exc:
        raise MalformedUserSigError(f"UserSig is not decodable: {type(exc).__name__}") from None
    if inflater.unconsumed_tail:
        raise MalformedUserSigError("UserSig document too large")
    if not inflater.eof:
        raise MalformedUserSigError("UserSig is truncated")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedUserSigError("UserSig document is not JSON") from None
    if not isinstance(doc, dict):
        raise MalformedUserSigError("UserSig document is not an object")
    return doc


def _claim(doc: dict[str, object], name: str) -> int:
    """A numeric claim: a JSON integer within 0..2^63-1 (not a bool, float, NaN or Infinity)."""
    value = doc.get(name)
    if type(value) is not int or not 0 <= value <= _MAX_CLAIM:
        raise MalformedUserSigError(f"UserSig {name} is not an integer in 0..2^63-1")
    return value


def _text(doc: dict[str, object], name: str, *, ascii_only: bool = False) -> str:
    """A text claim: a JSON string the HMAC can be computed over (no lone surrogates)."""
    value = doc.get(name)
    if isinstance(value, str):
        try:
            value.encode("ascii" if ascii_only else "utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return value
    raise MalformedUserSigError(f"UserSig {name} is not a valid string")


def verify(sig: str, key: str, *, now: int) -> UserSigClaims:
    """Check a UserSig's HMAC with ``key`` and its lifetime at ``now``; return its claims.

    Raises only UserSigError: MalformedUserSigError for anything that is not a well-formed
    UserSig, the base class for a signature that does not match or has expired.
    """
    doc = decode(sig)
    identifier = _text(doc, "TLS.identifier")
    sdkappid, issued_at, expire_s = (
        _claim(doc, name) for name in ("TLS.sdkappid", "TLS.time", "TLS.expire")
    )
    mac = _text(doc, "TLS.sig", ascii_only=True)  # an HMAC in base64; compare_digest needs ASCII
    expected = _digest(identifier, sdkappid, issued_at, expire_s, key)
    if not hmac.compare_digest(mac, expected):
        raise UserSigError("UserSig signature does not match")
    claims = UserSigClaims(identifier, sdkappid, issued_at, expire_s)
    if now > claims.expires_at:
        raise UserSigError("UserSig expired", expired=True)
    return claims
