"""Settings of the Tencent Cloud Chat REST client, from ``STREAMS_IM_*`` environment variables."""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.sdk.transport import is_request_target

#: The IM backend answers within 3 s or times out itself; the client must wait longer than that
#: so it sees the server's own timeout code instead of guessing.
SERVER_TIMEOUT_S = 3.0
#: A host name in ASCII (an international one in its xn-- form) or a bracketed IPv6 address,
#: and an optional port: what the Host header and the connection can carry as written.
_AUTHORITY: Final = re.compile(
    r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (so plain HTTP to it never crosses a network)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class IMSettings(BaseSettings):
    """Where and as whom the client calls the IM REST API."""

    model_config = SettingsConfigDict(env_prefix="STREAMS_IM_", frozen=True, extra="ignore")

    endpoint: str = Field(
        default="https://console.tim.qq.com",
        description=(
            "Base URL of the IM REST API (Tencent's regional domain, or an emulator). An "
            "https:// endpoint's certificate is checked against the system's CAs (OpenSSL's "
            "`SSL_CERT_FILE` or `SSL_CERT_DIR` name a private authority's instead)."
        ),
    )
    sdkappid: int = Field(gt=0, description="The app's SDKAppID.")
    admin: str = Field(min_length=1, max_length=128, description="App admin identifier.")
    secret_key: SecretStr = Field(min_length=1, description="The app's secret key (UserSig).")
    timeout_s: float = Field(
        default=5.0,
        gt=SERVER_TIMEOUT_S,
        le=60,
        description="Client timeout per request; above the server's own 3 s.",
    )
    usersig_ttl_s: int = Field(
        default=86_400, ge=600, le=180 * 86_400, description="Lifetime of each UserSig made."
    )
    max_connections: int = Field(
        default=32, ge=1, le=1024, description="Kept-alive connections to the endpoint."
    )
    allow_insecure: bool = Field(
        default=False, description="Allow plain http:// to a non-loopback endpoint."
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must not carry credentials, a query or a fragment")
        if not _AUTHORITY.fullmatch(parts.netloc) or not is_request_target(parts.path or "/"):
            raise ValueError(
                "must be ASCII: a host name (an international one in its xn-- form) or an IP "
                "address, an optional port, and a percent-encoded path"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _tls_unless_loopback(self) -> IMSettings:
        parts = urlsplit(self.endpoint)
        if parts.scheme == "http" and not self.allow_insecure:
            if not is_loopback_host(parts.hostname or ""):
                raise ValueError(
                    "plain http:// is only allowed to a loopback endpoint; use https:// "
                    "or set STREAMS_IM_ALLOW_INSECURE=true"
                )
        return self
