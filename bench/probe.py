"""Exports, measured in a process that does nothing else, so its peak memory is theirs.

    python -m bench.probe --database-url URL --email E --password P URL [URL …]

Signs in through the app's own sign-in page (Flask's test client: the real views, templates
and database, no network), then downloads each URL to nowhere, one after the other, and
prints one line of JSON per URL: the status, the bytes, the seconds of the download, the
resident memory before it and the peak during it. Before each URL the kernel's peak
(VmHWM) is reset (``/proc/self/clear_refs``), so each peak is that export's, not the
import's or a previous export's; (``resource.getrusage``'s ``ru_maxrss``
keeps the all-time peak, which the reset does not lower). ``bench.scale`` reads those lines.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import resource
import time

from bench.seed import app_config
from ruta import create_app


def _status(field: str) -> float:
    """A memory figure of /proc/self/status, in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def resident_mib() -> float:
    return _status("VmRSS")


def peak_mib() -> float:
    """The peak resident memory since the last reset (VmHWM); ``getrusage``'s ru_maxrss
    keeps the process's all-time peak, which the reset does not lower."""
    return _status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Make the peak resident memory the current one (Linux 4.0 on)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    options = parser.parse_args()
    app = create_app(app_config(options.database_url, WTF_CSRF_ENABLED=True))
    client = app.test_client()
    page = client.get("/ingresar").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    client.post("/ingresar", data={"email": options.email, "password": options.password,
                                   "csrf_token": token.group(1) if token else ""})
    client.get("/")  # the app's first-request costs, before any measurement
    for url in options.urls:
        gc.collect()
        reset_peak()
        before = resident_mib()
        start = time.perf_counter()
        response = client.get(url, buffered=False)
        size = 0
        for chunk in response.response:
            size += len(chunk)
        response.close()
        seconds = time.perf_counter() - start
        print(json.dumps({"url": url, "status": response.status_code, "bytes": size,
                          "seconds": seconds, "before_mib": before, "peak_mib": peak_mib()}),
              flush=True)


if __name__ == "__main__":
    main()
