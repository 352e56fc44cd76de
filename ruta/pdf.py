"""HTML to PDF on the server, with WeasyPrint: no browser at run time and no network.

WeasyPrint lays the page out with Debian's pango and the system fonts (DejaVu, Liberation)
and fetches whatever the page links to (its stylesheet, its images). The fetcher given here
answers only two kinds of address, both without leaving the process:

- the application's own static files (``/static/ruta.css?v=…``, resolved against the page's
  address, or a ``file:`` path inside the static folder), read from disk;
- ``data:`` URLs (the charts drawn into the page), decoded in memory.

Every other address (``http:``/``https:`` elsewhere or outside ``/static/``, ``file:`` outside
the static folder, ``ftp:``…) is refused: a page can never make the server open a connection
(no SSRF) nor read a file of its disk. A refused resource is left out of the PDF and logged;
the PDF is still made.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

log = logging.getLogger(__name__)
# The stylesheet is written for browsers: WeasyPrint would warn, on every PDF, about each rule
# it skips (media features, properties it does not know). Its errors still reach the log.
logging.getLogger("weasyprint").setLevel(logging.ERROR)


class RefusedURL(ValueError):
    """An address the PDF renderer does not fetch."""


class StaticOnlyFetcher(URLFetcher):
    """WeasyPrint's fetcher, narrowed to the files under ``static_folder`` and ``data:``.

    ``origin`` is the scheme and host the page was served from (``http://host/``) and
    ``static_path`` the URL path the static files are served under (``/static/``): an
    address is a static file when it has both and names a file inside the folder.
    """

    def __init__(self, static_folder: str | Path, *, origin: str,
                 static_path: str = "/static/") -> None:
        super().__init__(fail_on_errors=False)
        self.static_folder = Path(static_folder).resolve()
        parts = urlsplit(origin)
        self.origin = (parts.scheme.lower(), parts.netloc.lower())
        self.static_path = static_path if static_path.endswith("/") else static_path + "/"

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            # urllib's data: handler decodes it in memory.
            return super().fetch(url, headers)
        if scheme == "file":
            path = Path(url2pathname(unquote(parts.path)))
        elif (scheme, parts.netloc.lower()) == self.origin and parts.path.startswith(
                self.static_path):
            path = self.static_folder / unquote(parts.path[len(self.static_path):])
        else:
            raise self._refuse(url)
        found = self.static_file(path)
        if found is None:
            raise self._refuse(url)
        kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, found.read_bytes(), {"Content-Type": kind})

    def static_file(self, path: Path) -> Path | None:
        """``path`` when it is a file inside the static folder (after following ``..`` and
        links), else None."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.static_folder) or not resolved.is_file():
            return None
        return resolved

    @staticmethod
    def _refuse(url: str) -> RefusedURL:
        log.warning("PDF: no se trae %s (solo archivos estáticos de la aplicación).", url[:200])
        return RefusedURL(f"Dirección no permitida para el PDF: {url[:200]}")


def html_to_pdf(html: str, *, base_url: str, fetcher: StaticOnlyFetcher) -> bytes:
    """The PDF of ``html`` (print media: its ``@media print`` and ``@page`` rules apply)."""
    return HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf()
