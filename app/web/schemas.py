"""Request and response models: they validate what comes in and document every answer in OpenAPI."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from app.web.errors import STATUS

PixelValue = Annotated[float, Field(strict=True, allow_inf_nan=False)]
# A 7 drawn on a 28x28 pad, and a 1 as a grid of grey levels: the examples /docs and schema tests send.
SEVEN_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAAYElEQVR4nK2SUQ7AIAhD6bL7Xxl/hl"
    "pwZE78MfpsKRGovK8rYTm8nx10q6RkZsfUFmpve2x0W6u57CjaDuFBnwFOrnvKWVgXiFx3lCysCuRcCbpxIAjx3/q1poZ5wO+Jbw"
    "yFEDeqAnZnAAAAAElFTkSuQmCC"
)
ONE_PIXELS: JsonValue = [
    [0, 0, 0, 0, 0],
    [0, 0, 255, 0, 0],
    [0, 0, 255, 0, 0],
    [0, 0, 255, 0, 0],
    [0, 0, 255, 0, 0],
    [0, 0, 255, 0, 0],
    [0, 0, 0, 0, 0],
]
# A 7 as the network's own 28x28 input, row by row: the `bits` example.
SEVEN_ROWS = (
    "0000000000000000000000000000",
    "0000000000000000000000000000",
    "0000000000000000000000000000",
    "0000000000000000000000000000",
    "0000000000000000000000000000",
    "0000000111111111111110000000",
    "0000000111111111111110000000",
    "0000000000000000001110000000",
    "0000000000000000011100000000",
    "0000000000000000011100000000",
    "0000000000000000011100000000",
    "0000000000000000111000000000",
    "0000000000000001110000000000",
    "0000000000000001110000000000",
    "0000000000000001110000000000",
    "0000000000000011100000000000",
    "0000000000000111000000000000",
    "0000000000000111000000000000",
    "0000000000000111000000000000",
    "0000000000001110000000000000",
    "0000000000011100000000000000",
    "0000000000011100000000000000",
    "0000000000011100000000000000",
    "0000000000111000000000000000",
    "0000000000000000000000000000",
    "0000000000000000000000000000",
    "0000000000000000000000000000",
    "0000000000000000000000000000",
)
SEVEN_BITS = "".join(SEVEN_ROWS)
TopK = Annotated[int, Field(ge=1, le=10, description="How many guesses to return, best first.")]


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, as a sentence a person can act on.")
    code: str = Field(description="A machine-readable error code, e.g. `invalid_image`.")


DRAWING_FIELDS = ("image", "pixels", "bits")


def _one_drawing(schema: dict[str, Any]) -> None:
    """PredictJSON's schema as the API reads it: exactly one of the drawing fields, none null, and the checks
    `decoding.pixels_array` makes (a non-empty grid of 0-255); the size limits are the settings' (openapi.py)."""
    properties = schema["properties"]
    properties["image"] = {"type": "string", "minLength": 1, "description": properties["image"]["description"]}
    properties["pixels"] = {
        "type": "array",
        "minItems": 1,
        "items": {"type": "array", "minItems": 1, "items": {"type": "number", "minimum": 0, "maximum": 255}},
        "description": properties["pixels"]["description"],
    }
    bits = next(option for option in properties["bits"]["anyOf"] if option.get("type") == "string")
    properties["bits"] = {**bits, "description": properties["bits"]["description"]}
    schema["oneOf"] = [{"required": [field]} for field in DRAWING_FIELDS]
    schema["examples"] = [{"image": SEVEN_PNG}, {"pixels": ONE_PIXELS}, {"bits": SEVEN_BITS}]


class PredictJSON(BaseModel):
    """One drawing as JSON: an encoded image, a grid of grey levels, or the network's own input."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_drawing)

    image: str | None = Field(None, description="A PNG, JPEG, WebP, GIF or BMP image as a data URL or bare base64.")
    pixels: list[list[PixelValue]] | None = Field(
        None, description="Rows of grey levels 0-255, ink bright on dark, all rows the same length."
    )
    bits: str | None = Field(
        None,
        pattern=r"^[01]{784}$",
        description="The network's own 28x28 input: 784 characters of 0 and 1, row by row, used as it is "
        "(no preprocessing).",
    )

    @field_validator("bits", mode="before")
    @classmethod
    def _bit_string(cls, value: object) -> object:
        if isinstance(value, str) and (len(value) != 784 or value.strip("01")):
            what = f"{len(value)} characters" if len(value) != 784 else "characters other than 0 and 1"
            raise ValueError(f"`bits` must be 784 characters of 0 and 1, row by row; it has {what}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            sent = [field for field in DRAWING_FIELDS if field in data]
            if len(sent) != 1:
                raise ValueError("send exactly one of `image`, `pixels` or `bits`")
            if data[sent[0]] is None:
                raise ValueError(f"`{sent[0]}` is null; send the drawing in it, or send one of the others")
        return data


class BatchJSON(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"images": [SEVEN_PNG, SEVEN_PNG.split(",", 1)[1]], "model": "cnn", "top_k": 3}]
        },
    )

    images: list[str] = Field(min_length=1, description="The images, each a data URL or bare base64.")
    model: str | None = Field(None, max_length=64, description="Model name; the server's default when absent.")
    top_k: TopK = 2


class GuessOut(BaseModel):
    digit: int = Field(ge=0, le=9)
    probability: float


class InputOut(BaseModel):
    width: int
    height: int
    bits: str = Field(description="width x height characters of 0 and 1, row-major: what the network saw.")


class LayerActivationsOut(BaseModel):
    """One layer's activations, quantised to a byte each.

    Decode `data` from base64 to `prod(shape)` bytes; value = min + byte / 255 * (max - min), row-major
    in `shape`. Feature maps are channel-first, [C, H, W], so each map is one contiguous run of H*W bytes.
    """

    name: str
    kind: str = Field(description="input, conv, pool, dense or output")
    shape: list[int]
    min: float
    max: float
    data: str = Field(description="base64 of one unsigned byte per value")


class PredictionOut(BaseModel):
    model: str
    prediction: int = Field(ge=0, le=9)
    guesses: list[GuessOut]
    probabilities: list[float] = Field(min_length=10, max_length=10)
    input: InputOut
    layers: list[LayerActivationsOut] | None = Field(None, description="Present when `activations` is true.")
    timings_ms: dict[str, float]


class BatchErrorDetail(BaseModel):
    code: str
    detail: str


class BatchErrorOut(BaseModel):
    error: BatchErrorDetail


class BatchOut(BaseModel):
    results: list[PredictionOut | BatchErrorOut] = Field(description="One per image, in the order sent.")


class LayerOut(BaseModel):
    """A layer as the page draws it; activation functions are part of the layer before them."""

    name: str
    kind: str = Field(description="input, conv, pool, dense or output")
    shape: list[int] = Field(description="Feature maps channel first, [C, H, W]; [H, W] for the input; [n] else.")
    title: str = Field(description="What the page calls the layer, e.g. `Convolution 1` or `Output`.")
    kernel: int | None = Field(
        None, description="conv only: the side of its square kernels, which slide one unit at a time."
    )
    size: int | None = Field(
        None, description="pool only: the side of the square window each unit is the largest of, side by side."
    )


class ModelOut(BaseModel):
    name: str
    title: str
    description: str
    parameters: int
    layers: list[LayerOut]
    test_accuracy: float | None = Field(description="Accuracy on the 10k MNIST test digits, 0 to 1.")


class ModelsOut(BaseModel):
    default: str
    models: list[ModelOut]


class UnitOut(BaseModel):
    model: str
    layer: str
    unit: int
    shape: list[int] = Field(
        description="[C, k, k] for a conv kernel stack; the shape of the layer below for a "
        "dense unit, e.g. [28, 28] or [C, H, W]."
    )
    bias: float
    min: float
    max: float
    weights: list[float] = Field(description="The weights, row-major in `shape`.")


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    models: list[str]


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error codes a route can answer with, by their status in `errors.STATUS`: each
    status's ErrorOut body lists exactly the codes it may carry."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(STATUS[code], []).append(code)
    return {
        status: {
            "model": ErrorOut,
            "description": f"{HTTPStatus(status).phrase}: " + ", ".join(f"`{code}`" for code in status_codes),
            "content": {"application/json": {"schema": {"properties": {"code": {"enum": status_codes}}}}},
        }
        for status, status_codes in sorted(by_status.items())
    }
