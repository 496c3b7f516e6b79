"""The configuration reference is generated from the settings and kept current."""

from __future__ import annotations

from pathlib import Path

from streams.config_reference import render
from streams.sdk.config import IMSettings
from streams.settings import Settings

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "CONFIGURATION.md"


def test_every_setting_is_described() -> None:
    for model in (Settings, IMSettings):
        undescribed = [n for n, f in model.model_fields.items() if not f.description]
        assert not undescribed, f"{model.__name__}: {undescribed}"


def test_the_committed_reference_is_current() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/CONFIGURATION.md drifted from the settings: run python -m streams.config_reference"
    )
    text = render()
    for name in ("STREAMS_SDK", "STREAMS_QUARANTINE_AFTER_CRASHES", "STREAMS_IM_SECRET_KEY"):
        assert f"`{name}`" in text
