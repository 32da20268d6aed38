"""Request and response models: they validate what comes in and document every answer in OpenAPI."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

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


class PredictJSON(BaseModel):
    """One drawing as JSON: an encoded image, a grid of grey levels, or the network's own input."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"image": SEVEN_PNG}, {"pixels": ONE_PIXELS}, {"bits": SEVEN_BITS}]},
    )

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

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictJSON:
        if sum(value is not None for value in (self.image, self.pixels, self.bits)) != 1:
            raise ValueError("send exactly one of `image`, `pixels` or `bits`")
        return self


class BatchJSON(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"images": [SEVEN_PNG, SEVEN_PNG.split(",", 1)[1]], "model": "cnn", "top_k": 3}]
        },
    )

    images: list[str] = Field(min_length=1, description="1 to 256 images, each a data URL or bare base64.")
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


Map = list[list[float]]


class ExplanationMapOut(BaseModel):
    digit: int = Field(ge=0, le=9)
    method: str = Field(description="How the map was computed, e.g. `occlusion`.")
    map: Map = Field(
        description="28 rows of 28 numbers, row-major like `input.bits`: how much the digit's score (its logit, "
        "before the softmax) falls when that pixel's ink is erased. Positive = evidence for the digit, "
        "negative = evidence against it, 0 where there is no ink."
    )


class ExplainOut(BaseModel):
    model: str
    prediction: int = Field(ge=0, le=9)
    guesses: list[GuessOut] = Field(description="The first and the second guess.")
    probabilities: list[float] = Field(min_length=10, max_length=10)
    input: InputOut
    explanations: list[ExplanationMapOut] = Field(description="One per digit asked for, in that order.")
    timings_ms: dict[str, float]


class TopStimulusOut(BaseModel):
    bits: str = Field(description="The test digit as the network's input: 784 characters of 0 and 1, row by row.")
    label: int = Field(ge=0, le=9, description="The digit MNIST says it is.")
    activation: float = Field(
        description="The unit's value for this input, as POST /api/predict with these `bits` reports it "
        "(a feature map's maximum over positions; an output unit's probability)."
    )
    logit: float | None = Field(None, description="Output units: the score, before the softmax, they are ranked by.")
    source: str = Field(description="Where the digit comes from: `mnist-test:<index>` in the MNIST test set.")
    box: list[int] | None = Field(
        None,
        min_length=4,
        max_length=4,
        description="Feature maps: [x, y, w, h], the input window the map's strongest position sees.",
    )


class OptimalStimulusOut(BaseModel):
    map: Map = Field(description="28 rows of 28 numbers in 0..1: the input that excites the unit most.")
    activation: float = Field(description="The unit's value for this input, as for the top stimuli.")
    logit: float | None = Field(None, description="Output units: the score before the softmax.")


class StimuliOut(BaseModel):
    model: str
    layer: str
    unit: int
    top: list[TopStimulusOut] = Field(description="The 9 MNIST test digits that excite the unit most, best first.")
    optimal: OptimalStimulusOut


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    models: list[str]


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    return {status: {"model": ErrorOut} for status in statuses}
