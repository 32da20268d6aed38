"""GET /api/models, one model's description (the shipped ones and the lab's trained ones alike), and the
weights feeding one unit, for the page's hover view."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path
from starlette.responses import Response

from app.web.deps import RegistryDep, find_model
from app.web.errors import ApiError
from app.web.responses import OrjsonResponse, model_json
from app.web.schemas import ModelOut, ModelsOut, UnitOut, error_responses

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ModelsOut, summary="The models this server answers with")
async def list_models(registry: RegistryDep) -> Response:
    return OrjsonResponse({"default": registry.default, "models": [model_json(m) for m in registry.models.values()]})


@router.get("/{name}", response_model=ModelOut, responses=error_responses("unknown_model"), summary="One model")
async def describe_model(
    registry: RegistryDep,
    name: Annotated[str, Path(description="A model from GET /api/models, or a trained one (lab-...).")],
) -> Response:
    """As GET /api/models lists it; also for a model trained in the lab, which that list leaves out."""
    return OrjsonResponse(model_json(await find_model(registry, name)))


@router.get(
    "/{name}/layers/{layer}/units/{index}",
    response_model=UnitOut,
    responses=error_responses("unknown_model", "unknown_unit", "invalid_request"),
    summary="The weights and bias feeding one unit",
)
async def unit_weights(
    registry: RegistryDep,
    name: Annotated[str, Path(description="A model from GET /api/models.", examples=["cnn"])],
    layer: Annotated[str, Path(description="One of its layers with weights.", examples=["conv1"])],
    # No unit below 0: the document says so, and the answer to one is 404 `unknown_unit` like any other.
    index: Annotated[
        int,
        Path(
            description="The unit: a feature map or a neuron, from 0.", examples=[0], json_schema_extra={"minimum": 0}
        ),
    ],
) -> Response:
    model = await find_model(registry, name)
    try:
        weights, bias = model.network.unit_weights(layer, index)
    except (KeyError, IndexError) as exc:
        raise ApiError(
            "unknown_unit",
            f"Model {name!r} has no unit {index} in a layer {layer!r} with weights; "
            f"see GET /api/models for its layers and their shapes.",
        ) from exc
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    return OrjsonResponse(
        {
            "model": model.name,
            "layer": layer,
            "unit": index,
            "shape": list(weights.shape),
            "bias": bias,
            "min": float(weights.min()),
            "max": float(weights.max()),
            "weights": weights.reshape(-1),
        }
    )
