"""Settings, read once from environment variables with the DIGITPAD_ prefix."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

MODEL_DIR = Path(__file__).resolve().parent.parent / "model"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIGITPAD_")

    model_dir: Path = MODEL_DIR
    default_model: str = "cnn"
    models: tuple[str, ...] = ("cnn", "mlp", "logreg")


@lru_cache
def get_settings() -> Settings:
    return Settings()
