"""Settings, read once from environment variables with the DIGITPAD_ prefix.

DIGITPAD_CORS_ORIGINS takes a comma-separated list of origins (or "*"); CORS stays off while it is empty.
DIGITPAD_TRAINING takes on/off (or true/false, 1/0).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "model"
MiB = 1024 * 1024
MAX_IMAGE_SIDE = 4096
MAX_IMAGE_PIXELS = 16_000_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIGITPAD_")

    model_dir: Path = MODEL_DIR
    default_model: str = "cnn"
    models: Annotated[tuple[str, ...], NoDecode] = ("cnn", "mlp", "logreg")

    max_body_bytes: int = Field(default=2 * MiB, gt=0)
    # 256 pad-size PNGs (280x280, a few KB each) sent as base64 JSON fit with a wide margin.
    max_batch_body_bytes: int = Field(default=32 * MiB, gt=0)
    max_image_side: int = Field(default=MAX_IMAGE_SIDE, gt=0)
    max_image_pixels: int = Field(default=MAX_IMAGE_PIXELS, gt=0)
    max_batch_images: int = Field(default=256, gt=0)
    # Pixels decoded for one batch in all: 256 images each just under the image limit would otherwise keep
    # a worker decoding for minutes. 256 pad-size drawings (280x280) take a third of it.
    max_batch_pixels: int = Field(default=64_000_000, gt=0)
    # Seconds a request body may take to arrive in full (408 request_timeout after): a client that
    # trickles bytes would otherwise hold its request open, and its share of the worker, for as long as it likes.
    body_timeout: float = Field(default=30.0, gt=0)
    # Seconds an idle keep-alive connection stays open between requests.
    keep_alive_timeout: int = Field(default=5, gt=0)
    # The request line and headers (431 beyond), and the seconds they may take to arrive (408 after).
    max_head_bytes: int = Field(default=64 * 1024, gt=0)
    head_timeout: float = Field(default=10.0, gt=0)
    # Inference calls running at once per worker. Most of a prediction holds the GIL, so a second thread
    # only time-slices it: work queues first come, first served instead (one worker at 16 connections:
    # 639 -> 912 predictions/s, p99 33 -> 21 ms). Scale with workers, not threads.
    inference_threads: int = Field(default=1, gt=0)

    # Where the app keeps what it writes (the training lab under training/); relative to the working folder.
    data_dir: Path = Path("data")

    # The training lab (/train, /api/training). Jobs train in processes of their own; these bound them,
    # across all the worker processes of a server (which share data_dir).
    training: bool = True
    training_workers: int = Field(default=1, ge=1, le=16)  # runs training at once
    training_queue: int = Field(default=8, ge=0, le=1000)  # runs waiting beyond those
    training_per_client: int = Field(default=2, ge=1, le=100)  # runs one client may have training or waiting
    training_max_epochs: int = Field(default=50, ge=1, le=100)
    training_max_examples: int = Field(default=50_000, ge=500, le=50_000)  # training digits a run may use
    training_max_seconds: float = Field(default=300.0, gt=0)  # wall time of one run
    training_max_memory_mb: int = Field(default=1024, ge=256)  # address space of one training process
    # Seconds a run goes on after the last of its clients was heard from (an open events stream is heard
    # from every second); a queued run nobody is watching any more never starts.
    training_client_grace: float = Field(default=30.0, gt=0)
    # Seconds a finished run, its model and its jobs are kept after their last use, and how many runs the
    # cache keeps at most; trained models each worker keeps loaded.
    training_ttl: float = Field(default=3600.0, gt=0)
    training_max_runs: int = Field(default=100, ge=1)
    training_models_in_memory: int = Field(default=8, ge=1)
    training_nice: int = Field(default=10, ge=0, le=19)  # training processes yield the CPU to predictions

    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: Literal["off", "text", "json"] = "off"

    templates_dir: Path = ROOT / "templates"
    static_dir: Path = ROOT / "static"

    @field_validator("models", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
