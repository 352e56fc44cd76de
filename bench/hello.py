"""A bare Flask «hello», the yardstick of ``bench.scale``: served by the same gunicorn
settings as Ruta, in the same run, so each page's throughput reads as a share of what this
machine, this gunicorn and this load generator can do at all.

    gunicorn -c deploy/gunicorn.conf.py bench.hello:app
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
