"""Compressed responses (Flask-Compress: brotli or gzip, as the browser accepts).

On a slow link this is most of the gain: a page shrinks to between an eighth and a half of
its size (small pages gain least). What is compressed: pages, stylesheets, scripts, SVG
charts, JSON, CSV and plain text. What is not: files that are compressed already (xlsx, pdf,
docx, images: their types are not listed) and evidence downloads whatever their type, which
are sent as stored, with their exact length.

BREACH (an attacker who can make the victim's browser send many requests that reflect chosen
text beside a secret, and who can watch the sizes of the encrypted responses, guesses the
secret one character at a time): our pages carry a CSRF token and some reflect what was
typed (a search box). The session cookie is ``SameSite=Lax``, so the requests another site
can fire in the background (images, scripts, ``fetch``, frames) carry no session: they get
the sign-in redirect, or a brand-new session's token, never the person's. Only a top-level
navigation carries the cookie, and an attacker would need thousands of them, visible to the
person, while watching the network. The token in a page also changes every second
(Flask-WTF signs it with a timestamp): the part that stays the same is useless without the
signature only the server can make, and the signature changes between guesses. We accept
that small remaining risk; serving pages uncompressed would cost a slow link two to eight
times the bytes.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_compress import Compress

MIMETYPES = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
    "text/csv",
    "text/plain",
]

# People's files are sent byte for byte: most are compressed already, and whatever their type
# they are not ours to re-encode (their declared length and the archive's hash stay true).
NEVER_COMPRESSED = frozenset({"evidencias.download"})

compress = Compress()


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    # Brotli first (what browsers send over HTTPS), then gzip (every client and proxy).
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "deflate"])
    # The hook below decides which responses get to the library.
    app.config["COMPRESS_REGISTER"] = False
    compress.init_app(app)
    app.after_request(_compress)


def _compress(response: Response) -> Response:
    if request.endpoint in NEVER_COMPRESSED:
        return response
    source = response.response
    compressed = compress.after_request(response)
    if compressed.response is not source and hasattr(source, "close"):
        # A streamed file (static files are) is wrapped in a compressing generator that does
        # not close it: close it with the response, not whenever it is garbage-collected.
        compressed.call_on_close(source.close)
    return compressed
