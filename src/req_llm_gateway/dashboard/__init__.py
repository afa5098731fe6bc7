"""The usage dashboard at `/dashboard/req_llm`: one page, hand-written HTML, CSS and JS with SVG charts,
no build step and no CDN. The page polls `../v1/usage` relative to where it is mounted."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["PATH", "dashboard_routes", "render_page"]

PATH = "/dashboard/req_llm"
_STATIC = Path(__file__).with_name("static")


@lru_cache(maxsize=1)
def render_page() -> bytes:
    """index.html with its stylesheet and script inlined: one response, so no asset URL can break
    whatever prefix the gateway is mounted under."""
    html = (_STATIC / "index.html").read_text(encoding="utf-8")
    css = (_STATIC / "dashboard.css").read_text(encoding="utf-8")
    js = (_STATIC / "dashboard.js").read_text(encoding="utf-8")
    html = html.replace("/*DASHBOARD_CSS*/", css).replace("/*DASHBOARD_JS*/", js)
    return html.encode("utf-8")


_HEADERS = {
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; connect-src 'self'; img-src 'self' data:; "
                               "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'self'",
}


async def dashboard(request: Request) -> Response:
    return Response(render_page(), media_type="text/html; charset=utf-8", headers=_HEADERS)


def dashboard_routes() -> list[Route]:
    """The page, with and without a trailing slash (the script finds /v1/usage from either)."""
    return [Route(PATH, dashboard, methods=["GET", "HEAD"]), Route(PATH + "/", dashboard, methods=["GET", "HEAD"])]
