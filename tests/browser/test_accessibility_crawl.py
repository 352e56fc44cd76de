"""Every page of every role, crawled in Chromium over the demo Secretaría (`ruta demo`).

For each role, its demo accounts sign in and visit, breadth first, every same-origin page
reachable by GET links from the home page: a page added tomorrow is covered without anyone
listing it. Downloads (CSV, XLSX, PDF, JSON: told by the answer's Content-Type and
Content-Disposition, asked with the request API before the browser opens the link) are not
pages and are left out; signing out is a form (POST), never a link. No GET link changes anything.

To keep the run bounded (CI time), URLs are deduplicated by pattern: numbers become a
placeholder and only a query's keys count, so ``/rutas/7`` and ``/rutas/9`` are one page, and a
list's pages 2, 3… are one pattern. A query whose keys were each already seen on the same path
(a filter seen alone, a sort order seen alone) is not walked again for their combination. The
first URL of each pattern is the one checked, at the address the link led to (after redirects).
The accounts of one role walk their own pages but share what was checked: a second rector only
adds the pages the first one could not reach (a Ruta in another state).

Each page must answer 200 with a visible h1; axe-core (WCAG 2.0/2.1 A and AA and best
practices) must find no violation of impact moderate or higher at 1280 px nor at 360 px; and
the page must not be wider than the window at 360 px, 320 px, 200 % zoom (640 CSS px) nor with
its text at 200 % at 360 px. The pages behind the main forms' error states are checked the same
way. A role's findings are collected and reported together (page, viewport, rule, impact,
target). The figures (patterns, URLs seen, pages checked) are written to
``test-artifacts/accessibility-crawl-<role>.json`` and summed up in ACCESIBILIDAD.md.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urldefrag

import pytest
from playwright.sync_api import Page, expect

from demo.seed import DEMO_DOMAIN
from workflow.states import State

from .accessibility import (
    PHONE,
    WIDE,
    Finding,
    axe_findings,
    reflow_findings,
    report,
    url_pattern,
)
from .conftest import ARTIFACTS, Browsing, demo_ruta

pytestmark = pytest.mark.browser

# Each role's demo accounts, the richest first: rector01's Ruta is in seguimiento and continues
# a closed one; rector02's is a borrador (the autoevaluación forms are open); rector04's is
# formulating its PMI; rector05's is in review.
ROLES = {
    "rector": ["rector01", "rector02", "rector04", "rector05"],
    "equipo": ["equipo01", "equipo02"],
    "revisor": ["revisor1"],
    "administrador": ["admin"],
    "consulta": ["consulta"],
}
DOWNLOAD_TYPES = ("text/csv", "application/", "image/")
DOWNLOAD_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def kinds() -> dict[str, bool]:
    """Which patterns are pages and which are files, learnt once for every role."""
    return {}


@dataclass
class Crawl:
    """One role's walk: the patterns visited, every URL seen, what was found."""

    site: Browsing
    kinds: dict[str, bool]  # pattern → is an HTML page: the same for every role
    patterns: dict[str, str] = field(default_factory=dict)  # pattern → the URL visited
    urls_seen: set[str] = field(default_factory=set)
    downloads: set[str] = field(default_factory=set)  # patterns of files
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def same_origin(self, url: str) -> bool:
        return url.startswith(self.site.server.url + "/")

    def is_page(self, page: Page, url: str) -> bool:
        """Asked of the server, not guessed from the address: an HTML page, not a file. One
        question per path, for every role: a query (a sheet, a filter) does not make a file a
        page, and the consolidado's PDF is laid out to answer even a HEAD (seconds)."""
        pattern = url_pattern(url).partition("?")[0]
        if pattern not in self.kinds:
            answer = page.request.head(url, timeout=DOWNLOAD_TIMEOUT_MS)
            kind = answer.headers.get("content-type", "")
            disposition = answer.headers.get("content-disposition", "")
            self.kinds[pattern] = not (disposition.startswith("attachment")
                                       or kind.startswith(DOWNLOAD_TYPES))
        if not self.kinds[pattern]:
            self.downloads.add(pattern)
        return self.kinds[pattern]

    def walk(self, email: str) -> None:
        """The account's pages, one per pattern, breadth first from its home page; only the
        patterns new to the role are checked."""
        page = self.site.new_page(WIDE)
        self.site.login(page, email)
        queue = deque([page.url])
        walked: set[str] = set()
        while queue:
            url = queue.popleft()
            if not self.visit(page, url):
                continue
            # Where the link led (after redirects) is the page shown.
            pattern = url_pattern(page.url)
            walked.add(pattern)
            if pattern not in self.patterns:
                self.patterns[pattern] = page.url
                self.check(page)
            for link in self.links(page):
                self.urls_seen.add(link)
                if covered(url_pattern(link), walked) or not self.is_page(page, link):
                    continue
                walked.add(url_pattern(link))
                queue.append(link)
        page.context.close()
        self.site.contexts.remove(page.context)

    def links(self, page: Page) -> list[str]:
        hrefs: list[str] = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        return sorted({urldefrag(href)[0] for href in hrefs if self.same_origin(href)})

    def visit(self, page: Page, url: str) -> bool:
        """Open the page: False (and a finding) when it did not answer 200."""
        response = page.goto(url)
        status = response.status if response else None
        if status != 200:
            self.findings.append(Finding(url, "1280px", "status", "serious", f"answered {status}"))
            return False
        return True

    def check(self, page: Page) -> None:
        heading = page.locator("h1").first
        if not (heading.count() and heading.is_visible() and heading.inner_text().strip()):
            self.findings.append(Finding(page.url, "1280px", "visible-h1", "serious", "h1"))
        self.findings += axe_findings(page, self.site.axe_source, "1280px")
        page.set_viewport_size(PHONE)
        self.findings += axe_findings(page, self.site.axe_source, "360px")
        self.findings += reflow_findings(page)

    def figures(self, role: str) -> dict[str, object]:
        return {"role": role, "patterns": len(self.patterns), "urls_seen": len(self.urls_seen),
                "downloads_skipped": sorted(self.downloads),
                "findings": len(self.findings), "seconds": round(self.seconds, 1),
                "pages": sorted(self.patterns), "found": [str(item) for item in self.findings]}


def covered(pattern: str, walked: set[str]) -> bool:
    """Whether a page of this pattern was seen: the same path with the same query keys, or
    with each of its keys seen on that path already (a filter and a sort order each seen
    alone are not walked again together)."""
    if pattern in walked:
        return True
    path, _, query = pattern.partition("?")
    if not query:
        return False
    seen_keys = {key for seen in walked if seen.partition("?")[0] == path
                 for key in seen.partition("?")[2].split("&") if key}
    return set(query.split("&")) <= seen_keys


def write_figures(name: str, figures: dict[str, object]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"accessibility-crawl-{name}.json"
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_of_the_role_is_accessible(demo_browsing: Browsing,
                                              kinds: dict[str, bool], role: str) -> None:
    crawl = Crawl(demo_browsing, kinds)
    started = time.perf_counter()
    for account in ROLES[role]:
        crawl.walk(f"{account}@{DEMO_DOMAIN}")
    crawl.seconds = time.perf_counter() - started
    write_figures(role, crawl.figures(role))
    # The walk reached past the home page: a broken link extractor would pass an empty crawl.
    assert len(crawl.patterns) >= 10, crawl.patterns
    assert crawl.findings == [], report(crawl.findings)


# --- the pages behind the main forms' error states ----------------------------------------


def shown_status(page: Page) -> int:
    return int(page.evaluate("performance.getEntriesByType('navigation')[0].responseStatus"))


def test_the_main_forms_error_pages_are_accessible(demo_browsing: Browsing,
                                                   kinds: dict[str, bool]) -> None:
    """Each main form refused, then its page checked like a crawled one: the sign-in, an
    área's valoración, a PMI element, a seguimiento report and the PMI review's decision."""
    site = demo_browsing
    server = site.server
    crawl = Crawl(site, kinds)
    statuses = {}

    def refused(page: Page, name: str) -> None:
        expect(page.locator(".error-summary")).to_be_visible()
        statuses[name] = shown_status(page)
        crawl.check(page)

    page = site.new_page(WIDE)
    page.goto("/ingresar")
    page.get_by_label("Correo electrónico (obligatorio)", exact=True).fill(
        f"rector01@{DEMO_DOMAIN}")
    page.get_by_label("Contraseña (obligatorio)", exact=True).fill("no-es-la-clave")
    page.get_by_role("button", name="Ingresar").click()
    refused(page, "ingresar")

    # rector02's Ruta is a borrador: an evidence longer than allowed is refused.
    site.login(page, f"rector02@{DEMO_DOMAIN}")
    page.goto(f"/rutas/{demo_ruta(server, 2, State.BORRADOR)}/autoevaluacion/areas/DIR")
    first_form = page.locator("main form", has=page.locator("textarea")).first
    first_form.locator("textarea").first.evaluate("(area, text) => { area.value = text; }",
                                                  "x" * 20_001)
    first_form.get_by_role("button", name=re.compile("^Guardar")).click()
    refused(page, "valoracion")
    page.context.close()

    # rector04 formulates the PMI: an objective without its text is refused.
    page = site.new_page(WIDE)
    site.login(page, f"rector04@{DEMO_DOMAIN}")
    formulating = demo_ruta(server, 4, State.AUTOEVALUACION_ENVIADA)
    page.goto(f"/rutas/{formulating}/pmi/elemento?tipo=objetivo")
    page.locator("#guardar").click()
    refused(page, "pmi-elemento")
    page.context.close()

    # rector01's latest seguimiento report came back: an avance over 100 % is refused.
    page = site.new_page(WIDE)
    site.login(page, f"rector01@{DEMO_DOMAIN}")
    following = demo_ruta(server, 1, State.SEGUIMIENTO)
    page.goto(f"/rutas/{following}/seguimiento")
    page.get_by_role("link", name=re.compile("^Diligenciar el informe")).first.click()
    page.locator("input[id^=avance-]").first.fill("120")
    page.get_by_role("button", name="Guardar el informe").click()
    refused(page, "seguimiento")
    page.context.close()

    # revisor1 holds rector05's PMI: a return without any observation is refused.
    page = site.new_page(WIDE)
    site.login(page, f"revisor1@{DEMO_DOMAIN}")
    page.goto(f"/rutas/{demo_ruta(server, 5, State.EN_REVISION)}/pmi/revision")
    page.get_by_role("button", name="Devolver con observaciones").click()
    refused(page, "revision")

    assert statuses == {"ingresar": 401, "valoracion": 422, "pmi-elemento": 422,
                        "seguimiento": 422, "revision": 422}
    assert crawl.findings == [], report(crawl.findings)
