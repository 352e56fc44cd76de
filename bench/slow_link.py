"""What a rector feels on a slow link: 400 kbps down and up, 400 ms of latency.

Usage: ``python -m bench.slow_link [--schools 4] [--runs 3]``. Loads the demo data (``ruta
demo``: rector01's Ruta is in seguimiento, rector04's is formulating its PMI) into a throw-away
SQLite file, serves the app on loopback (Werkzeug, threaded, HTTP/1.1 keep-alive as a
reverse proxy would give the browser), and drives Debian's Chromium through Playwright with
the link throttled by the DevTools protocol (``Network.emulateNetworkConditions``).

Measured, as wall-clock time until the page's ``load`` event (every stylesheet, script and
image in):

* sign-in: the sign-in page on a cold cache, then from pressing «Ingresar» to the home page;
* each main rector page, cold (browser cache emptied) and warm (the same page opened again,
  as on a repeat visit), with the requests that went to the network and the bytes
  transferred (headers included, as Chromium counts them).

Chromium's throttling adds the latency to each request and caps the throughput; it does not
model TCP or TLS handshakes. Over plain HTTP Chromium offers gzip and deflate, not brotli
(which it only offers over HTTPS), so production transfers are a little smaller still.
Prints a Markdown table of medians over ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import Browser, CDPSession, Page, sync_playwright
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ruta import create_app
from ruta.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
PASSWORD = "clave-de-benchmark-lenta"  # noqa: S105 (accounts of a throw-away database)
DEMO_DOMAIN = "ruta.demo"
# 400 kbps in bytes per second, both ways; 400 ms from request sent to response headers.
THROUGHPUT = 400_000 / 8
LATENCY_MS = 400
TARGET_MS = 3000
VERBOSE = False


class QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection for a page and its files

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True,
                                         request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="slow-link-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def build_app(folder: Path, school_count: int) -> Flask:
    url = f"sqlite:///{folder / 'slow-link.db'}"
    app = create_app({"RUTA_ENV": "development", "DATABASE_URL": url,
                      "SECRET_KEY": "s" * 40, "EVIDENCE_FOLDER": str(folder / "evidencias"),
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8,
                      "ARGON2_PARALLELISM": 1})
    upgrade(app.extensions["ruta_db"].engine)
    from demo.seed import seed_demo
    from ruta.security import passwords

    with app.app_context():
        session = app.extensions["ruta_db"].session_factory()
        seed_demo(session, school_count=school_count, password=PASSWORD,
                  passwords=passwords())
        session.commit()
        session.close()
    return app


@dataclass
class Traffic:
    """What went over the (throttled) network, from the DevTools protocol's events."""

    sent: set[str] = field(default_factory=set)
    from_cache: set[str] = field(default_factory=set)
    urls: dict[str, str] = field(default_factory=dict)
    bytes: int = 0

    def watch(self, cdp: CDPSession) -> None:
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.requestServedFromCache",
               lambda event: self.from_cache.add(event["requestId"]))
        cdp.on("Network.responseReceived", self._received)
        cdp.on("Network.loadingFinished", self._finished)

    def _sent(self, event: dict[str, Any]) -> None:
        if event["request"]["url"].startswith("data:"):
            return  # inline in a stylesheet: never a request
        # A redirect re-sends under the same id: count each hop.
        key = f"{event['requestId']}:{event['request']['url']}:{len(self.sent)}"
        self.sent.add(key)
        self.urls[key] = event["request"]["url"]

    def _received(self, event: dict[str, Any]) -> None:
        response = event["response"]
        if response.get("fromDiskCache") or response.get("fromMemoryCache"):
            self.from_cache.add(event["requestId"])

    def _finished(self, event: dict[str, Any]) -> None:
        if event["requestId"] not in self.from_cache:
            self.bytes += int(event.get("encodedDataLength", 0))

    def reset(self) -> None:
        self.sent.clear()
        self.from_cache.clear()
        self.urls.clear()
        self.bytes = 0

    @property
    def network_requests(self) -> int:
        cached = {key for key in self.sent if key.split(":", 1)[0] in self.from_cache}
        return len(self.sent) - len(cached)

    @property
    def all_requests(self) -> int:
        return len(self.sent)


@dataclass
class Measure:
    ms: float
    requests: int
    all_requests: int
    kib: float


@dataclass
class Person:
    page: Page
    cdp: CDPSession
    traffic: Traffic

    def timed(self, action: Callable[[], object]) -> Measure:
        self.traffic.reset()
        start = time.perf_counter()
        action()
        elapsed = (time.perf_counter() - start) * 1000
        # Late events (loadingFinished) arrive with the next protocol round trip.
        self.page.evaluate("1")
        if VERBOSE:
            for key, url in self.traffic.urls.items():
                cached = key.split(":", 1)[0] in self.traffic.from_cache
                print(f"    {'cache' if cached else 'net  '} {url}")
        return Measure(elapsed, self.traffic.network_requests, self.traffic.all_requests,
                       self.traffic.bytes / 1024)

    def empty_cache(self) -> None:
        self.cdp.send("Network.clearBrowserCache")


def new_person(browser: Browser, base_url: str) -> Person:
    context = browser.new_context(base_url=base_url, locale="es-CO",
                                  timezone_id="America/Bogota")
    context.set_default_timeout(60_000)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": LATENCY_MS,
        "downloadThroughput": THROUGHPUT, "uploadThroughput": THROUGHPUT})
    traffic = Traffic()
    traffic.watch(cdp)
    return Person(page, cdp, traffic)


def sign_in(person: Person, email: str) -> tuple[Measure, Measure, str]:
    """(the sign-in page, cold; from «Ingresar» to home; the home URL)."""
    page = person.page
    person.empty_cache()
    login_page = person.timed(lambda: page.goto("/ingresar", wait_until="load"))
    page.get_by_label("Correo electrónico (obligatorio)", exact=True).fill(email)
    page.get_by_label("Contraseña (obligatorio)", exact=True).fill(PASSWORD)

    def submit() -> None:
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("button", name="Ingresar").click()

    home = person.timed(submit)
    if page.url.endswith("/ingresar"):
        raise SystemExit(f"sign-in failed for {email}")
    return login_page, home, page.url


def link(page: Page, fragment: str) -> str:
    """The first link on the page whose address contains ``fragment``."""
    found = page.locator(f"a[href*='{fragment}']").first
    href = found.get_attribute("href")
    if not href:
        raise SystemExit(f"no link to {fragment} on {page.url}")
    return href


def formulating_pages(person: Person, ruta: str) -> list[tuple[str, str]]:
    """(name, URL) of the pages a rector formulating the PMI uses, found by following links."""
    page, base = person.page, f"/rutas/{ruta}"
    page.goto(f"{base}/autoevaluacion", wait_until="load")
    area = link(page, f"{base}/autoevaluacion/areas/")
    page.goto(f"{base}/pmi", wait_until="load")
    element = link(page, f"{base}/pmi/elemento")
    return [("Ruta (home)", base), ("autoevaluación", f"{base}/autoevaluacion"),
            ("autoevaluación: an área", area), ("PMI", f"{base}/pmi"),
            ("PMI: an element's form", element)]


def follow_up_pages(person: Person, ruta: str) -> list[tuple[str, str]]:
    """(name, URL) of the seguimiento pages of a Ruta in seguimiento."""
    page, base = person.page, f"/rutas/{ruta}"
    page.goto(f"{base}/seguimiento", wait_until="load")
    return [("seguimiento", f"{base}/seguimiento"),
            ("seguimiento: a report", link(page, f"{base}/seguimiento/informes/"))]


def visit(person: Person, url: str) -> Measure:
    def go() -> None:
        response = person.page.goto(url, wait_until="load")
        if response is None or response.status != 200:
            raise SystemExit(f"{url} answered {response.status if response else 'nothing'}")
    return person.timed(go)


def median(measures: list[Measure]) -> Measure:
    return Measure(statistics.median(item.ms for item in measures),
                   max(item.requests for item in measures),
                   max(item.all_requests for item in measures),
                   statistics.median(item.kib for item in measures))


def run(browser: Browser, base_url: str, runs: int) -> list[tuple[str, Measure, Measure | None]]:
    samples: dict[str, list[list[Measure]]] = {}
    order: list[str] = []

    def record(name: str, cold: Measure, warm: Measure | None) -> None:
        if name not in samples:
            samples[name] = [[], []]
            order.append(name)
        samples[name][0].append(cold)
        if warm is not None:
            samples[name][1].append(warm)

    for _ in range(runs):
        for email, pages in ((f"rector04@{DEMO_DOMAIN}", formulating_pages),
                             (f"rector01@{DEMO_DOMAIN}", follow_up_pages)):
            person = new_person(browser, base_url)
            login_page, home_measure, home = sign_in(person, email)
            who = email.split("@")[0]
            record(f"{who}: sign-in page", login_page, None)
            record(f"{who}: «Ingresar» → home", home_measure, None)
            ruta = home.split("/rutas/", 1)[1].split("/")[0].split("?")[0]
            for name, url in pages(person, ruta):
                person.empty_cache()
                cold = visit(person, url)
                warm = visit(person, url)
                record(f"{who}: {name}", cold, warm)
            person.page.context.close()
    return [(name, median(samples[name][0]),
             median(samples[name][1]) if samples[name][1] else None) for name in order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schools", type=int, default=4,
                        help="demo schools (at least 4: rector04 formulates its PMI)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="list every request")
    options = parser.parse_args()
    global VERBOSE
    VERBOSE = options.verbose
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        app = build_app(Path(folder), max(options.schools, 4))
        seeded_s = time.perf_counter() - start
        with serve(app) as base_url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS,
                                                 headless=True)
            try:
                rows = run(browser, base_url, options.runs)
            finally:
                browser.close()
        app.extensions["ruta_db"].dispose()

    print(f"\nSlow link: {THROUGHPUT * 8 / 1000:.0f} kbps down and up, {LATENCY_MS} ms "
          f"latency (Chromium DevTools throttling); demo data, {max(options.schools, 4)} "
          f"schools on SQLite (seeded in {seeded_s:.1f} s); median of {options.runs} runs.\n"
          "Requests: sent to the network (all, including those the cache answered).\n")
    print("| page | cold (ms) | requests | KiB | warm (ms) | requests | KiB | under 3 s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, cold, warm in rows:
        slowest = max(cold.ms, warm.ms if warm else 0)
        warm_cells = (f"{warm.ms:.0f} | {warm.requests} ({warm.all_requests}) | "
                      f"{warm.kib:.1f}" if warm else "– | – | –")
        print(f"| {name} | {cold.ms:.0f} | {cold.requests} ({cold.all_requests}) | "
              f"{cold.kib:.1f} | {warm_cells} | {'yes' if slowest < TARGET_MS else 'NO'} |")


if __name__ == "__main__":
    main()
