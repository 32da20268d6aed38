"""Request and response models: they validate what comes in and document every answer in OpenAPI."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from app.nn.lab import HIDDEN_UNITS, LIMITS
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


class LiveQuery(BaseModel):
    """The query string of a live socket (`/api/predict/live`, `/api/read/live`): what every drawing sent on
    it is read with, as the POST route's own query parameters."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, max_length=64)
    top_k: int = Field(2, ge=1, le=10)
    activations: bool | None = None  # the POST route's default when absent


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


Digit = Annotated[int, Field(ge=0, le=9)]
ModelName = Annotated[str, Field(max_length=64, description="Model name; the server's default when absent.")]
LABEL_DESCRIPTION = "The digit the drawing really is, 0 to 9."
GUESS_DESCRIPTION = (
    "The guess the person was shown (their own confirmation when it equals `label`); the model's first "
    "guess on this input when absent."
)


class CorrectionFields(BaseModel):
    """What a correction says about its drawing: from the query string, or the fields of a multipart form."""

    model_config = ConfigDict(extra="ignore")

    label: Digit = Field(description=LABEL_DESCRIPTION)
    model: ModelName | None = None
    guess: Digit | None = Field(None, description=GUESS_DESCRIPTION)


def _correction(schema: dict[str, Any]) -> None:
    """CorrectionJSON's schema: the drawing exactly as PredictJSON's, with the correction's own examples."""
    _one_drawing(schema)
    schema["examples"] = [
        {"bits": SEVEN_BITS, "label": 7, "model": "cnn", "guess": 1},
        {"image": SEVEN_PNG, "label": 7},
    ]


class CorrectionJSON(PredictJSON):
    """A drawing in any of the JSON forms POST /api/predict takes, and the digit it really is."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: _correction(schema))

    label: Annotated[int, Field(ge=0, le=9, strict=True, description=LABEL_DESCRIPTION)]
    model: ModelName | None = None
    guess: Annotated[int | None, Field(ge=0, le=9, strict=True, description=GUESS_DESCRIPTION)] = None

    @model_validator(mode="before")
    @classmethod
    def _whole_digits(cls, given: Any) -> Any:
        """A JSON integer as JSON Schema means it: 7.0 is 7 (never "7", 7.5 or true)."""
        if not isinstance(given, dict):
            return given
        return {**given, **{key: int(given[key]) for key in ("label", "guess") if _integral(given.get(key))}}


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


class NumberDigitOut(BaseModel):
    box: list[int] = Field(
        min_length=4, max_length=4, description="x, y, width, height of the digit's ink, in the posted image's pixels."
    )
    prediction: int = Field(ge=0, le=9)
    guesses: list[GuessOut]
    probabilities: list[float] = Field(min_length=10, max_length=10)
    input: InputOut
    layers: list[LayerActivationsOut] | None = Field(None, description="Present when `activations` is true.")


class ReadingOut(BaseModel):
    model: str
    text: str = Field(description="The number as the digits' first guesses spell it, left to right.")
    digits: list[NumberDigitOut] = Field(description="Left to right.")
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


class CorrectionOut(BaseModel):
    id: int = Field(description="The correction's id, for the review page.")
    label: int = Field(ge=0, le=9)
    input: InputOut = Field(description="What was stored: the network's input, as in POST /api/predict.")


class CorrectionStatsOut(BaseModel):
    total: int = Field(description="Corrections and confirmations stored.")
    confirmations: int = Field(description="Of them, drawings whose label is the model's guess.")
    by_label: dict[str, int] = Field(description='Per digit "0" to "9", every digit present.')
    by_model: dict[str, int] = Field(description="Per model whose guess was corrected or confirmed.")
    misread_rate: dict[str, float | None] = Field(
        description='Per digit "0" to "9": the share of its stored drawings the model read as another digit '
        "(null while there are none). Corrections are sent far more often than confirmations, so this is the "
        "rate among what people chose to send, not the model's error rate."
    )


class StoredCorrectionOut(BaseModel):
    id: int
    created_at: str = Field(description="When it was saved, ISO 8601 in UTC.")
    label: int = Field(ge=0, le=9)
    model: str
    guess: int | None = Field(description="The guess the person saw; null when it is not known.")
    guesses: list[GuessOut] = Field(description="The model's own best guesses on the input, best first.")
    bits: str = Field(description="The network's 28x28 input: 784 characters of 0 and 1, row by row.")


class CorrectionPageOut(BaseModel):
    corrections: list[StoredCorrectionOut] = Field(description="Newest first.")
    next_before: int | None = Field(description="Pass as `before` for the next page; null on the last one.")


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


# --- the training lab ---


WHOLE_SETTINGS = ("train_size", "epochs", "batch_size", "seed")


def _integral(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


class TrainingRequest(BaseModel):
    """One run's settings; all but `architecture` may be left out (the defaults are in brackets). The
    server may cap epochs and digits lower than these ranges (DIGITPAD_TRAINING_MAX_EPOCHS, ..._EXAMPLES)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # What depends on the architecture: softmax regression has no hidden layer (so no activation),
            # an mlp 1 or 2, a cnn 0 or 1 after its convolutions.
            "allOf": [
                {
                    "if": {"properties": {"architecture": {"const": "logreg"}}},
                    "then": {
                        "properties": {
                            "hidden": {"anyOf": [{"type": "null"}, {"maxItems": 0}]},
                            "activation": {"type": "null"},
                        }
                    },
                },
                {
                    "if": {"properties": {"architecture": {"const": "mlp"}}},
                    "then": {"properties": {"hidden": {"anyOf": [{"type": "null"}, {"minItems": 1}]}}},
                },
                {
                    "if": {"properties": {"architecture": {"const": "cnn"}}},
                    "then": {"properties": {"hidden": {"anyOf": [{"type": "null"}, {"maxItems": 1}]}}},
                },
            ],
            "examples": [
                {"architecture": "logreg", "train_size": 10000, "epochs": 5, "learning_rate": 0.05},
                {"architecture": "mlp", "hidden": [100], "activation": "sigmoid", "epochs": 10, "dropout": 0.5},
            ],
        },
    )

    architecture: Literal["logreg", "mlp", "cnn"] = Field(
        description="`logreg`: softmax regression; `mlp`: 1 or 2 hidden layers; `cnn`: two 5x5 convolutions "
        "(8 and 16 kernels) with 2x2 max-pooling, and 0 or 1 dense hidden layers."
    )
    hidden: list[Annotated[int, Field(strict=True, ge=HIDDEN_UNITS.low, le=HIDDEN_UNITS.high)]] | None = Field(
        None,
        max_length=2,
        description="Units of each hidden dense layer: 1 or 2 layers for an mlp (default [100]), 0 or 1 for a "
        "cnn (default none); none for logreg.",
    )
    activation: Literal["sigmoid", "relu", "linear"] | None = Field(
        None,
        description="The hidden layers' activation (`linear`: none at all); default sigmoid for an mlp, relu "
        "for a cnn; none for logreg.",
    )
    train_size: Annotated[int, Field(strict=True, ge=LIMITS["train_size"].low, le=LIMITS["train_size"].high)] | None = (
        Field(None, description="Training digits, the first of MNIST's [10000].")
    )
    epochs: Annotated[int, Field(strict=True, ge=LIMITS["epochs"].low, le=LIMITS["epochs"].high)] | None = Field(
        None, description="Passes over them [5]."
    )
    batch_size: Annotated[int, Field(strict=True, ge=LIMITS["batch_size"].low, le=LIMITS["batch_size"].high)] | None = (
        Field(None, description="Digits a step [64].")
    )
    learning_rate: float | None = Field(
        None,
        strict=True,
        allow_inf_nan=False,
        gt=LIMITS["learning_rate"].low,
        le=LIMITS["learning_rate"].high,
        description="The first step size [0.1]; it decays along a cosine to 0 by the last step.",
    )
    momentum: float | None = Field(
        None,
        strict=True,
        allow_inf_nan=False,
        ge=LIMITS["momentum"].low,
        le=LIMITS["momentum"].high,
        description="[0.9]",
    )
    dropout: float | None = Field(
        None,
        strict=True,
        allow_inf_nan=False,
        ge=LIMITS["dropout"].low,
        le=LIMITS["dropout"].high,
        description="Share of hidden units dropped a step [0].",
    )
    seed: Annotated[int, Field(strict=True, ge=LIMITS["seed"].low, le=LIMITS["seed"].high)] | None = Field(
        None, description="Initial weights and batch order [1]."
    )

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, given: Any) -> Any:
        """A JSON integer as JSON Schema means it: 186.0 is 186 (never "186", 186.5 or true)."""
        if not isinstance(given, dict):
            return given
        whole: dict[str, Any] = {
            key: int(value) for key, value in given.items() if key in WHOLE_SETTINGS and _integral(value)
        }
        if isinstance(given.get("hidden"), list):
            whole["hidden"] = [int(units) if _integral(units) else units for units in given["hidden"]]
        return {**given, **whole}


class TrainingSettingsOut(BaseModel):
    architecture: str
    hidden: list[int]
    activation: str | None
    train_size: int
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float
    dropout: float
    seed: int


class AccuracyOut(BaseModel):
    count: int
    accuracy: float
    top2_accuracy: float
    per_class: list[float]


class ValidationOut(AccuracyOut):
    confusion: list[list[int]] = Field(description="confusion[true digit][guess], counts.")
    log_likelihood: float = Field(description="The mean log-probability of the right digits.")


class TrainFiguresOut(BaseModel):
    count: int
    accuracy: float = Field(description="During the last epoch, with dropout on.")
    log_likelihood: float = Field(description="The last epoch's mean log-likelihood; the loss is its negative.")


class TrainingMetricsOut(BaseModel):
    validation: ValidationOut = Field(description="MNIST training digits 50,000 to 59,999, never trained on.")
    test: AccuracyOut = Field(description="The 10,000 MNIST test digits.")
    train: TrainFiguresOut
    epochs: int
    steps: int
    parameters: int
    wall_time_s: float
    examples_per_s: float | None
    peak_rss_mb: float | None = Field(None, description="The training process's peak resident memory.")
    peak_address_space_mb: float | None = Field(
        None, description="Its peak address space, which DIGITPAD_TRAINING_MAX_MEMORY_MB bounds."
    )


class TrainingJobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "diverged", "cancelled", "error"]
    events: str = Field(description="Its Server-Sent Events: GET it with Accept: text/event-stream.")
    model: str | None = Field(description="Once done: a name for `model=` on /api/predict and /api/explain.")
    model_file: str | None = Field(description="Once done: the model as a .npz file.")
    settings: TrainingSettingsOut = Field(description="The settings as the run uses them, defaults filled in.")
    parameters: int
    created: float = Field(description="Seconds since the epoch, when this job was made.")
    started: float | None
    finished: float | None
    queue_position: int | None = Field(description="While queued: 1 for the next run to start.")
    progress: dict[str, float | int | None] | None = Field(
        description="While running, the figures so far: epoch, epochs, step, steps, log_likelihood, loss, "
        "train_accuracy, examples_per_s, elapsed_s, and after an epoch validation_accuracy and "
        "validation_log_likelihood."
    )
    metrics: TrainingMetricsOut | None = Field(description="Once done.")
    detail: str | None = Field(description="Why it diverged, was cancelled or failed.")
    cached: bool = Field(description="Whether it replays a run trained before with the same settings.")
