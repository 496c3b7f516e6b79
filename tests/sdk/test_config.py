"""IM settings: errors name the variable, never echo the secret, and plain HTTP stays local."""

import pytest

from streams.errors import ConfigError
from streams.sdk.config import IMSettings
from streams.settings_base import load_settings

SENTINEL = "sentinel-secret-3f9a"


@pytest.fixture
def im_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("ENDPOINT", "SDKAPPID", "ADMIN", "SECRET_KEY", "TIMEOUT_S", "ALLOW_INSECURE"):
        monkeypatch.delenv(f"STREAMS_IM_{name}", raising=False)
    monkeypatch.setenv("STREAMS_IM_SDKAPPID", "1400000001")
    monkeypatch.setenv("STREAMS_IM_ADMIN", "administrator")
    monkeypatch.setenv("STREAMS_IM_SECRET_KEY", SENTINEL)
    return monkeypatch


def test_loads_from_env_and_hides_secret(im_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(IMSettings)
    assert settings.sdkappid == 1400000001
    assert settings.endpoint == "https://console.tim.qq.com"
    assert settings.secret_key.get_secret_value() == SENTINEL
    assert SENTINEL not in repr(settings) and SENTINEL not in str(settings.model_dump())


def test_missing_variable_is_named(im_env: pytest.MonkeyPatch) -> None:
    im_env.delenv("STREAMS_IM_ADMIN")
    with pytest.raises(ConfigError, match="STREAMS_IM_ADMIN: Field required"):
        load_settings(IMSettings)


def test_malformed_variable_is_named_without_echoing_values(im_env: pytest.MonkeyPatch) -> None:
    im_env.setenv("STREAMS_IM_SDKAPPID", SENTINEL)
    im_env.setenv("STREAMS_IM_TIMEOUT_S", "2")
    with pytest.raises(ConfigError) as info:
        load_settings(IMSettings)
    message = str(info.value)
    assert "STREAMS_IM_SDKAPPID" in message and "STREAMS_IM_TIMEOUT_S" in message
    assert SENTINEL not in message


def test_plain_http_only_to_loopback(im_env: pytest.MonkeyPatch) -> None:
    im_env.setenv("STREAMS_IM_ENDPOINT", "http://127.0.0.1:8080/")
    assert load_settings(IMSettings).endpoint == "http://127.0.0.1:8080"
    im_env.setenv("STREAMS_IM_ENDPOINT", "http://im.example.com")
    with pytest.raises(ConfigError, match="STREAMS_IM_ALLOW_INSECURE"):
        load_settings(IMSettings)
    im_env.setenv("STREAMS_IM_ALLOW_INSECURE", "true")
    assert load_settings(IMSettings).endpoint == "http://im.example.com"


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://x",
        "https://x/?usersig=1",
        "https://u:p@x",
        "x",
        "https://bücher.example",
        "https://x y.example",
        "https://x.example/a b",
        "https://x.example:port",
    ],
)
def test_bad_endpoints(im_env: pytest.MonkeyPatch, endpoint: str) -> None:
    im_env.setenv("STREAMS_IM_ENDPOINT", endpoint)
    with pytest.raises(ConfigError, match="STREAMS_IM_ENDPOINT"):
        load_settings(IMSettings)


@pytest.mark.parametrize(
    "endpoint",
    ["https://xn--bcher-kva.example/base", "https://[::1]:8443", "https://im.example.com.:443"],
)
def test_good_endpoints(im_env: pytest.MonkeyPatch, endpoint: str) -> None:
    im_env.setenv("STREAMS_IM_ENDPOINT", endpoint)
    assert load_settings(IMSettings).endpoint == endpoint
