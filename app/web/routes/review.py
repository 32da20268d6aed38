"""GET /review: the operator's page to look through the corrections by digit and delete bad ones.

It exists only while DIGITPAD_ADMIN_TOKEN is set. The page itself holds nothing secret: it asks for the
token and sends it with each request to the admin API, as a header.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app import __version__
from app.web.deps import TemplatesDep
from app.web.routes.corrections import REVIEW_PAGE_SIZE

router = APIRouter(tags=["pages"])


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
async def review_page(request: Request, templates: TemplatesDep) -> Response:
    config = {"page_size": REVIEW_PAGE_SIZE, "digits": list(range(10))}
    return templates.TemplateResponse(request, "review.html", {"config": config, "version": __version__})
