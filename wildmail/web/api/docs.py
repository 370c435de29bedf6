"""Browsable API docs at ``/api/docs``, offline: Swagger UI's files come from the ``swagger-ui-py``
package and are served from here (only the few names below, never a path from the request).

Swagger UI sets inline styles, so this page (and only it) allows ``'unsafe-inline'`` styles;
scripts still come only from this site, and the one script of ours is a file, not inline.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from wildmail.web.api.problems import ProblemError

router = APIRouter()
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
CACHE = {"Cache-Control": "public, max-age=86400"}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wildmail REST API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" href="/api/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
"""
INIT = """window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""


@router.get("/api/docs", include_in_schema=False)
def docs_page() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": DOCS_POLICY})


@router.get("/api/docs/init.js", include_in_schema=False)
def docs_script() -> Response:
    return Response(INIT, media_type="text/javascript; charset=utf-8", headers=CACHE)


@router.get("/api/docs/assets/{name}", include_in_schema=False)
def docs_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise ProblemError(404, f"no documentation file {name!r}", kind="not-found")
    data = (files("swagger_ui") / "static" / name).read_bytes()
    return Response(data, media_type=media_type, headers=CACHE)
