"""GET /metrics: counters and latency histograms in Prometheus' text format, for scraping."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.web.observability import render_metrics

router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "content": {"text/plain": {}, "application/openmetrics-text": {}},
            "description": "Prometheus text format, or OpenMetrics when Accept asks for it.",
        }
    },
)
def metrics(request: Request) -> Response:
    """Requests by route and status with latency histograms, inference time by model, predictions by digit.

    Sync on purpose: with several workers it reads every worker's metric files from disk."""
    body, content_type = render_metrics(request.headers.get("accept", ""))
    return Response(body, media_type=content_type)
