"""Serves the built web app (web/dist) with a fallback to index.html for client-side routes."""

from __future__ import annotations

import os
from pathlib import Path

from shared.problems import ProblemError
from starlette.requests import Request
from starlette.responses import FileResponse, Response

# paths the web app must never shadow: they are the API or internal
RESERVED_PREFIXES = ("api", "internal")


class WebApp:
    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()
        self.index = self.root / "index.html"

    @property
    def available(self) -> bool:
        return self.index.is_file()

    def response(self, request: Request, path: str) -> Response:
        first = path.split("/", 1)[0]
        if first in RESERVED_PREFIXES or not self.available:
            raise ProblemError(404, "No such resource.")
        if path:
            candidate = Path(os.path.normpath(self.root / path))
            inside = candidate == self.root or self.root in candidate.parents
            if inside and candidate.is_file():
                return FileResponse(candidate, headers=_cache_headers(candidate, self.root))
            # a missing file (it has an extension) is a 404, a client-side route gets the app
            if "." in path.rsplit("/", 1)[-1]:
                raise ProblemError(404, "No such file.")
        return FileResponse(self.index, headers={"Cache-Control": "no-cache"})


def _cache_headers(path: Path, root: Path) -> dict[str, str]:
    # Vite puts content-hashed files under assets/: they never change
    if root / "assets" in path.parents:
        return {"Cache-Control": "public, max-age=31536000, immutable"}
    return {"Cache-Control": "no-cache"}
