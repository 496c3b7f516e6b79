"""Worker settings: defaults, cross-field rules, and the refusal to run without STREAMS_SDK."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.errors import ConfigError
from streams.sdk.config import IMSettings
from streams.settings import Settings
from streams.settings_base import load_settings
from streams.worker import check_window_bound


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMS_"):
            monkeypatch.delenv(name)


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(Settings)
    assert settings.changes_topic == "conversation-custom-data-changes"
    assert settings.outcomes_topic == "conversation-custom-data-outcomes"
    assert settings.dead_letter_topic == "conversation-custom-data-dead-letters"
    assert settings.rate_limit == 200 and settings.max_clock_skew_s == 300
    assert settings.web_host == "127.0.0.1" and settings.sdk is None


def test_retry_deadline_must_fit_the_rebalance_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMS_SDK_RETRY_DEADLINE_S", "58")
    with pytest.raises(ConfigError, match="STREAMS_BROKER_REBALANCE_TIMEOUT_S"):
        load_settings(Settings)


def test_the_window_bound_fits_the_rebalance_timeout_and_exceeds_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMS_WINDOW_BOUND_S", "56")
    with pytest.raises(ConfigError, match="STREAMS_WINDOW_BOUND_S"):
        load_settings(Settings)
    monkeypatch.setenv("STREAMS_WINDOW_BOUND_S", "20")  # the default retry deadline
    with pytest.raises(ConfigError, match="must stay below STREAMS_WINDOW_BOUND_S"):
        load_settings(Settings)
    monkeypatch.setenv("STREAMS_WINDOW_BOUND_S", "50")
    settings = load_settings(Settings)
    im = IMSettings(sdkappid=1, admin="admin", secret_key=SecretStr("k"), timeout_s=5)
    with pytest.raises(ConfigError, match=r"\(60 s\) must stay below"):
        check_window_bound(settings, im)  # 50 + 5 + 5 reaches the 60 s rebalance timeout
    check_window_bound(settings, im.model_copy(update={"timeout_s": 4}))


def test_the_liveness_threshold_must_exceed_the_longest_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(Settings).liveness_stall_s == 120
    monkeypatch.setenv("STREAMS_LIVENESS_STALL_S", "25")  # the default deadline 20 + 5
    with pytest.raises(ConfigError, match="STREAMS_LIVENESS_STALL_S must exceed"):
        load_settings(Settings)
    monkeypatch.setenv("STREAMS_SDK_RETRY_DEADLINE_S", "19")
    assert load_settings(Settings).liveness_stall_s == 25


def test_sasl_needs_credentials_and_hides_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMS_BROKER_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError, match="STREAMS_BROKER_SASL_MECHANISM"):
        load_settings(Settings)
    monkeypatch.setenv("STREAMS_BROKER_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("STREAMS_BROKER_SASL_USERNAME", "svc")
    monkeypatch.setenv("STREAMS_BROKER_SASL_PASSWORD", "pw-sentinel")
    settings = load_settings(Settings)
    assert "pw-sentinel" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMS_WINDOW_MS", "0"),
        ("STREAMS_ON_RETRY_EXHAUSTED", "ignore"),
        ("STREAMS_SDK", "fake"),
        ("STREAMS_EVENT_LOOP", "trio"),
        ("STREAMS_MAX_CLOCK_SKEW_S", "3e11"),
        ("STREAMS_MAX_CLOCK_SKEW_S", "604801"),
        ("STREAMS_MAX_CLOCK_SKEW_S", "inf"),
        ("STREAMS_MAX_CLOCK_SKEW_S", "nan"),
        ("STREAMS_MAX_CLOCK_SKEW_S", "-1"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings(Settings)


def test_clock_skew_of_up_to_seven_days_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMS_MAX_CLOCK_SKEW_S", "604800")
    assert load_settings(Settings).max_clock_skew_s == 604800


def test_worker_refuses_to_start_without_sdk() -> None:
    env = {"PATH": "/usr/bin:/bin", "STREAMS_IM_SDKAPPID": "1", "STREAMS_IM_ADMIN": "a",
           "STREAMS_IM_SECRET_KEY": "k"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "streams", "worker"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode != 0
    assert b"STREAMS_SDK is not set" in done.stderr


LOOP_PROBE = """
from streams.sdk.config import IMSettings
from streams.settings import Settings
from streams.settings_base import load_settings
from streams.worker import Worker

worker = Worker(load_settings(Settings), load_settings(IMSettings))
print(type(worker.app.loop).__module__, type(worker.app.consumer._thread.thread_loop).__module__)
"""


@pytest.mark.parametrize(
    ("choice", "module"),
    [(None, "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio.unix_events")],
)
def test_worker_app_and_consumer_thread_run_on_the_chosen_loop(
    choice: str | None, module: str
) -> None:
    env = {"PATH": "/usr/bin:/bin", "STREAMS_SDK": "tencent", "STREAMS_IM_SDKAPPID": "1",
           "STREAMS_IM_ADMIN": "a", "STREAMS_IM_SECRET_KEY": "k",
           "STREAMS_TABLE_STORE": "memory://"}  # fmt: skip
    if choice is not None:
        env["STREAMS_EVENT_LOOP"] = choice
    done = subprocess.run(
        [sys.executable, "-c", LOOP_PROBE], env=env, capture_output=True, timeout=60, check=True
    )
    assert done.stdout.split() == [module.encode(), module.encode()]


def test_faust_settings_for_production_and_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.engine.app import faust_settings

    monkeypatch.setenv("STREAMS_GROUP_INSTANCE_ID", "streams-0")
    prod = faust_settings(load_settings(Settings))
    assert prod["consumer_group_instance_id"] == "streams-0"
    assert prod["broker"].startswith("streamskafka://") and prod["web_bind"] == "127.0.0.1"
    assert prod["broker_session_timeout"] == 30.0
    monkeypatch.setenv("STREAMS_EMBEDDED_BROKER", "true")
    embedded = faust_settings(load_settings(Settings))
    assert embedded["broker"].startswith("tansu://")
    assert embedded["broker_session_timeout"] == 2.0


def test_faust_ignores_its_own_unprefixed_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stray PRODUCER_ACKS=0 in the pod's environment must not override acks=all."""
    from streams.engine.app import create_app

    monkeypatch.setenv("PRODUCER_ACKS", "0")
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "3")
    monkeypatch.setenv("STREAMS_DATA_DIR", str(tmp_path))
    app, _topics, _table = create_app(load_settings(Settings))
    assert app.conf.producer_acks == -1
    assert app.conf.broker_session_timeout == 30.0
