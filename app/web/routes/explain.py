"""POST /api/explain (why this guess) and GET .../units/{index}/stimuli (what a unit learned)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from app.core.explanations import parse_digits, unit_stimuli
from app.web.deps import ReaderDep, RegistryDep, find_model
from app.web.drawings import read_drawing
from app.web.predictions import ClientGone, answer_explain
from app.web.responses import OrjsonResponse, stimuli_json
from app.web.routes.predict import CLIENT_CLOSED_REQUEST, DRAWING_ERRORS, PREDICT_BODY
from app.web.schemas import ExplainOut, StimuliOut, error_responses

router = APIRouter(tags=["explain"])
# What parse_digits reads: digits 0 to 9 separated by commas, spaces around them allowed, or nothing.
DIGITS_PATTERN = r"^ *([0-9] *(, *[0-9] *)*)?$"


@router.post(
    "/api/explain",
    response_model=ExplainOut,
    responses=error_responses(*DRAWING_ERRORS),
    openapi_extra=PREDICT_BODY,
    summary="Why this guess: how each pixel pushed each digit's score",
)
async def explain(
    request: Request,
    reader: ReaderDep,
    digits: Annotated[
        str | None,
        Query(
            max_length=40,
            json_schema_extra={"pattern": DIGITS_PATTERN},  # documented; parse_digits says what is wrong
            description="Digits to explain, comma-separated (e.g. `3,5`; a digit named twice is explained once); "
            "default the first and the second guess.",
            examples=["3,5"],
        ),
    ] = None,
) -> Response:
    """The same inputs as POST /api/predict. Each map is occlusion: how much the digit's score (its logit)
    falls when that one pixel's ink is erased, positive where the ink is evidence for the digit. The map
    of "the first rather than the second" is the first's map minus the second's."""
    targets = parse_digits(digits)
    source = await read_drawing(request)
    try:
        answer = await answer_explain(reader.model, source, targets, reader.settings, reader.inference, request)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return Response(answer, media_type="application/json")


@router.get(
    "/api/models/{name}/layers/{layer}/units/{index}/stimuli",
    response_model=StimuliOut,
    responses=error_responses("unknown_model", "unknown_unit", "no_stimulus_index", "invalid_request"),
    summary="What a unit learned: its top stimuli in the MNIST test set and its optimal stimulus",
)
async def stimuli(
    registry: RegistryDep,
    name: Annotated[str, Path(description="A model from GET /api/models.", examples=["cnn"])],
    layer: Annotated[str, Path(description="One of its layers other than the input.", examples=["conv1"])],
    index: Annotated[int, Path(description="The unit: a feature map or a neuron, from 0.", examples=[0])],
) -> Response:
    """Read from the stimulus index shipped beside the model (`digitpad index` builds it); a model without
    one, such as a model trained in the lab, answers 404 `no_stimulus_index`."""
    model = await find_model(registry, name)
    found = unit_stimuli(model.name, registry.indexes.get(model.name), registry.no_index.get(model.name), layer, index)
    assert registry.stimulus_source is not None  # every loaded index comes with the digits it points into
    return OrjsonResponse(stimuli_json(model.name, found, registry.stimulus_source))
