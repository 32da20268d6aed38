"""Settings, read once from DIGITPAD_ environment variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import MODEL_DIR, Settings, get_settings


def test_the_defaults_are_the_documented_ones(monkeypatch):
    for name in ("DIGITPAD_MODELS", "DIGITPAD_DEFAULT_MODEL", "DIGITPAD_MODEL_DIR", "DIGITPAD_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.model_dir == MODEL_DIR and settings.default_model == "cnn"
    assert settings.models == ("cnn", "mlp", "logreg")
    assert settings.max_body_bytes == 2 * 1024 * 1024 and settings.max_batch_images == 256
    assert settings.cors_origins == () and settings.access_log == "off" and settings.log_level == "info"


def test_lists_are_comma_separated_and_levels_any_case(monkeypatch):
    monkeypatch.setenv("DIGITPAD_MODELS", " mlp, logreg ,")
    monkeypatch.setenv("DIGITPAD_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("DIGITPAD_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("DIGITPAD_MAX_BODY_BYTES", "1000")
    settings = Settings()
    assert settings.models == ("mlp", "logreg")
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.log_level == "warning" and settings.max_body_bytes == 1000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIGITPAD_MAX_BODY_BYTES", "0"),
        ("DIGITPAD_HEAD_TIMEOUT", "-1"),
        ("DIGITPAD_ACCESS_LOG", "xml"),
        ("DIGITPAD_LOG_LEVEL", "loud"),
        ("DIGITPAD_MAX_IMAGE_SIDE", "many"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert name.removeprefix("DIGITPAD_").lower() in str(caught.value)


def test_settings_are_read_once():
    assert get_settings() is get_settings()
