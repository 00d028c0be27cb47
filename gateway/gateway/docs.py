"""Swagger UI served from the swagger-ui-bundle package: no CDN, no inline script (CSP)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from shared.problems import ProblemError
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
# the only files /docs/assets/ hands out
SERVED = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"})
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Helpdesk API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""


async def docs_page(request: Request) -> Response:
    """Swagger UI over /openapi.json."""
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})


async def docs_init(request: Request) -> Response:
    return Response(INIT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in SERVED:
        raise ProblemError(404, "No such file.")
    return FileResponse(ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})
