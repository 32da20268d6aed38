"""The training lab's API: start a run, follow its events, stop it, and fetch its model."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import ValidationError
from starlette.responses import Response

from app.core.training import TrainingService
from app.web.drawings import media_type
from app.web.errors import ApiError, from_validation_error
from app.web.responses import OrjsonResponse
from app.web.schemas import TrainingJobOut, TrainingRequest, error_responses
from app.web.training import Dispatcher, Stopping, event_stream, job_json

router = APIRouter(prefix="/api/training", tags=["training"])

JobId = Annotated[str, Path(description="A job id from POST /api/training.", examples=["3f9c2a7d41b06e58"])]
EVENTS_DESCRIPTION = """Server-Sent Events (`text/event-stream`), each with an `id` (reconnect with
`Last-Event-ID`, as EventSource does, to get only what came after it), an `event` and JSON `data`:

- `progress`, a few times a second: `epoch`, `epochs`, `step`, `steps`, `log_likelihood` (the mean
  log-likelihood of the steps since the last event) and `loss` (its negative), `train_accuracy` (of the
  epoch so far), `examples_per_s`, `elapsed_s`, `probe` (the probabilities the network gives the first
  validation digit), now and then `weights` (the first layer's weights as images: `layer`, `shape`
  [units, height, width], `scale`, `data`: base64 of a byte per weight, q standing for
  (q / 255 * 2 - 1) * scale); at the end of each epoch also `epoch_end`, `validation_accuracy` and
  `validation_log_likelihood`;
- then exactly one of `done` (`model`: a name for `model=` on /api/predict and /api/explain, `metrics`,
  `misread`: validation digits read wrongly, the most confident first), `diverged` (`detail`, `epoch`,
  `step`, `log_likelihood`), `cancelled` (`detail`) or `error` (`detail`), and the stream ends.

A job replaying a cached run gets all of its events at once. A reconnect after the final event is
answered 204, which tells EventSource to stop."""


async def lab_service(request: Request) -> TrainingService:
    service: TrainingService = request.app.state.training
    return service


TrainingDep = Annotated[TrainingService, Depends(lab_service)]


SETTINGS_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": TrainingRequest.model_json_schema()}}}
}


async def read_settings(request: Request) -> TrainingRequest:
    """The settings in a POST body: JSON, checked against TrainingRequest. Raises ApiError."""
    kind = media_type(request)
    if kind != "application/json":
        what = f"Content-Type {kind!r}" if kind else "A request without a Content-Type"
        raise ApiError("unsupported_media_type", f"{what} is not accepted; send the settings as application/json.")
    try:
        return TrainingRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise from_validation_error(exc) from exc


def client_of(request: Request) -> str:
    """Who is asking, for the per-client limit: the address (as the proxy in front reports it)."""
    return request.client.host if request.client else "unknown"


def _event_id(header: str | None) -> int:
    """A Last-Event-ID as this server writes them (a line number); anything else means from the start."""
    value = (header or "").strip()
    return int(value) if value.isdigit() and len(value) < 12 else 0


def _job(view: Any) -> Response:
    return OrjsonResponse(job_json(view))


@router.post(
    "",
    status_code=202,
    response_model=TrainingJobOut,
    responses=error_responses(
        "payload_too_large", "unsupported_media_type", "invalid_request", "too_busy", "not_ready"
    ),
    openapi_extra=SETTINGS_BODY,
    summary="Start training a network",
)
async def start(request: Request, training: TrainingDep) -> Response:
    """Queues a run of these settings, or joins the same run already under way, or replays it at once
    when it was trained before (the same settings and seed give the same run). 429 `too_busy`, with
    `Retry-After`, when the queue or this client's share of it is full."""
    body = await read_settings(request)
    view = await anyio.to_thread.run_sync(training.submit, body.model_dump(exclude_none=True), client_of(request))
    dispatcher: Dispatcher = request.app.state.dispatcher
    dispatcher.wake.set()
    return OrjsonResponse(job_json(view), status_code=202, headers={"Location": f"/api/training/{view.id}"})


@router.get(
    "/{job_id}", response_model=TrainingJobOut, responses=error_responses("unknown_job"), summary="A job's status"
)
async def status(job_id: JobId, training: TrainingDep) -> Response:
    """Its status, its settings, its progress while it trains and its figures once done. Asking counts
    as being there: a run goes on while one of its jobs is asked about or followed."""
    return _job(await anyio.to_thread.run_sync(training.job, job_id))


@router.delete(
    "/{job_id}", response_model=TrainingJobOut, responses=error_responses("unknown_job"), summary="Stop a job"
)
async def cancel(job_id: JobId, training: TrainingDep) -> Response:
    """Stops the job; its run stops too unless another job is following it. A finished job stays as it is."""
    return _job(await anyio.to_thread.run_sync(training.cancel, job_id))


@router.get(
    "/{job_id}/events",
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": EVENTS_DESCRIPTION},
        204: {"description": "The client has seen the final event already."},
        **error_responses("unknown_job", "invalid_request"),
    },
    summary="Follow a job: its progress, then how it ended",
)
async def events(
    job_id: JobId,
    request: Request,
    training: TrainingDep,
    last_event_id: Annotated[str | None, Header(description="The id of the last event received.")] = None,
    after: Annotated[int | None, Query(ge=0, description="Same as Last-Event-ID, for clients without headers.")] = None,
) -> Response:
    seen = after if after is not None else _event_id(last_event_id)
    feed = await anyio.to_thread.run_sync(training.feed, job_id, seen)
    if seen and await anyio.to_thread.run_sync(feed.ended_before):
        return Response(status_code=204)
    feed.touch()
    stopping: Stopping = request.app.state.stopping
    return StreamingResponse(
        event_stream(feed, stopping),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # proxies pass each event on at once
    )


@router.get(
    "/{job_id}/model",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **error_responses("unknown_job", "no_model")},
    summary="Download a job's trained model (.npz, the shipped model format)",
)
async def model_file(job_id: JobId, training: TrainingDep) -> Response:
    path, name = await anyio.to_thread.run_sync(training.model_file, job_id)
    return FileResponse(path, media_type="application/octet-stream", filename=f"{name}.npz")
