"""Static files with their content hash in the URL, so browsers keep them for a year.

Every ``url_for('static', filename=…)`` gets ``?v=<first 12 hex of the file's SHA-256>``
(a ``url_defaults`` hook: templates need nothing). A request that names the file's current
hash is answered with ``Cache-Control: public, max-age=31536000, immutable``: a new version
of the file has a new URL, so the browser never needs to ask again. Without the hash, or with
one that is not the current file's (a page rendered before a deploy, another instance during a
rolling deploy), the file is still served, never a 404, but marked ``no-cache`` so a browser
keeps it only while it revalidates: content is never pinned under a hash it does not have.

Hashes are computed once per file and kept while the file's size and modification time stay
the same (one ``stat`` per URL built), so an edited file gets a new URL without a restart.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

HASH_ARG = "v"
HASH_LENGTH = 12
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class StaticHashes:
    """The content hash of each file of a static folder, cached per file."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        # filename → ((modification time, size), hash). A dict write is atomic under the GIL;
        # two threads computing the same hash at once both get the same answer.
        self._known: dict[str, tuple[tuple[int, int], str]] = {}

    def of(self, filename: str) -> str | None:
        """The current hash of ``filename``, or None when there is no such file."""
        path = safe_join(str(self.folder), filename)
        if path is None:
            return None
        try:
            status = os.stat(path)
        except OSError:
            return None
        if not os.path.isfile(path):
            return None
        stamp = (status.st_mtime_ns, status.st_size)
        known = self._known.get(filename)
        if known is not None and known[0] == stamp:
            return known[1]
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:HASH_LENGTH]
        self._known[filename] = (stamp, digest)
        return digest


def init_app(app: Flask) -> None:
    if app.static_folder is None:
        return
    hashes = StaticHashes(app.static_folder)
    app.extensions["ruta_static_hashes"] = hashes
    app.url_defaults(_add_hash)
    app.after_request(_cache_static)


def _hashes() -> StaticHashes:
    return current_app.extensions["ruta_static_hashes"]  # type: ignore[no-any-return]


def _add_hash(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint != "static" or HASH_ARG in values or "filename" not in values:
        return
    digest = _hashes().of(values["filename"])
    if digest is not None:
        values[HASH_ARG] = digest


def _cache_static(response: Response) -> Response:
    if request.endpoint != "static" or response.status_code not in (200, 304):
        return response
    filename = (request.view_args or {}).get("filename", "")
    current = _hashes().of(filename)
    asked = request.args.get(HASH_ARG)
    response.headers["Cache-Control"] = (
        IMMUTABLE if current is not None and asked == current else REVALIDATE)
    return response
