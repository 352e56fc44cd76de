"""Fixtures for the browser tests: Debian's Chromium, driven by Playwright, against a live server.

The app runs on a copy of the SQLite template in a real WSGI server thread; Chromium talks to it
over loopback like any browser would. Nothing is downloaded: Playwright launches
``/usr/bin/chromium`` and axe-core comes from ``node_modules`` (``npm ci``). Without either, a
developer's laptop skips these tests with the reason; under CI (``CI=true``) that is a failure.

The Content-Security-Policy stays enforced: axe is evaluated through the DevTools protocol
(which the page's CSP does not govern) instead of being added as an inline script tag, so the
tests also catch any inline script or style a template adds by mistake.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    sync_playwright,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from blueprints.rutas import fire_action
from ruta import create_app
from ruta.config import PROJECT_ROOT
from ruta.db import Database
from tests.conftest import (
    IN_CI,
    PASSING_RUBRIC,
    PASSWORD,
    TEST_PASSWORDS,
    Factory,
    app_config,
)
from workflow.models import OPENED, Ruta, RutaTransition, School, User, Zona, utcnow
from workflow.pmi import actions as pmi_actions
from workflow.pmi import review
from workflow.roles import Role
from workflow.states import ReturnTarget, State, Trigger, triggers_from

CHROMIUM = Path("/usr/bin/chromium")
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
# Failures should be quick to report; a healthy page here loads in milliseconds.
ACTION_TIMEOUT_MS = 10_000
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def require_browser() -> None:
    """Skip (fail under CI) when Chromium or axe-core is not installed."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not AXE.exists():
        missing.append(f"{AXE.relative_to(PROJECT_ROOT)} (npm ci)")
    if not missing:
        return
    reason = "browser tests need " + " and ".join(missing)
    if IN_CI:
        pytest.fail(f"CI=true but {reason}: browser tests must run in CI")
    pytest.skip(f"{reason}: browser tests skipped on this machine")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require_browser()
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS,
                                              headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def axe_source() -> str:
    require_browser()
    return AXE.read_text(encoding="utf-8")


# --- the live server ------------------------------------------------------------------------


class QuietRequestHandler(WSGIRequestHandler):
    """One log line per request would bury a failure's output; errors are still logged."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class LiveServer:
    url: str
    app: Flask
    database: Database

    def session(self) -> Session:
        """A session of its own (not the request-scoped one); use it as a context manager."""
        return self.database.session_factory()


@contextmanager
def serving(sqlite_template: Path, tmp_path: Path, *,
            seed: Callable[[Session], object] | None = None,
            **overrides: Any) -> Iterator[LiveServer]:
    """The app (with config ``overrides``) on a fresh copy of the schema, served on a free
    loopback port in a thread, until the block ends. ``seed`` fills the database first (in a
    session it then commits), e.g. with the demo Secretaría.

    SQLite only: what the browser sees does not depend on the database engine, and the
    PostgreSQL behaviour is covered by the view and race tests."""
    path = tmp_path / "ruta.db"
    shutil.copyfile(sqlite_template, path)
    app = create_app(app_config(f"sqlite:///{path}", **overrides))
    if seed is not None:
        with app.extensions["ruta_db"].session_factory() as session:
            seed(session)
            session.commit()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True,
                                         request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="ruta-live-server")
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app,
                         app.extensions["ruta_db"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["ruta_db"].dispose()


@pytest.fixture
def live_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    with serving(sqlite_template, tmp_path) as server:
        yield server


# --- test data ------------------------------------------------------------------------------


def seed_demo_site(session: Session, *, school_count: int) -> None:
    """`ruta demo`'s Secretaría (the first ``school_count`` schools), plus one thing the demo
    lacks for the forms' tests: the latest seguimiento report of the first school's Ruta is
    returned by its revisor, so the rector has a report form open."""
    from demo.seed import seed_demo
    from workflow.seguimiento import reports as seguimiento
    from workflow.seguimiento.models import FollowUpReport

    seed_demo(session, school_count=school_count, password=PASSWORD, passwords=TEST_PASSWORDS)
    following = session.scalars(select(Ruta).join(School).where(
        School.dane_code.endswith("000001"), Ruta.state == State.SEGUIMIENTO)).one()
    report = session.scalars(select(FollowUpReport).where(
        FollowUpReport.ruta_id == following.id).order_by(FollowUpReport.id.desc())).first()
    assert report is not None and following.reviewer is not None
    seguimiento.add_observation(session, report, reviewer=following.reviewer, element="informe",
                                text="Adjunte las actas de los talleres informados.")
    seguimiento.return_report(session, report, reviewer=following.reviewer,
                              expected_version=report.version)


# How a Ruta got to "PMI enviado": the school's own steps, written as the services write them.
# The autoevaluación and PMI content their guards judge is not what these tests are about.
SUBMITTED_HISTORY = (
    (OPENED, None, State.BORRADOR, False, 30),
    (Trigger.ENVIAR_AUTOEVALUACION.value, State.BORRADOR, State.AUTOEVALUACION_ENVIADA, True, 12),
    (Trigger.FORMULAR_PMI.value, State.AUTOEVALUACION_ENVIADA, State.PMI_FORMULADO, True, 2),
)


@dataclass
class World:
    """A Secretaría with two schools, a rector for the first one and two revisores."""

    server: LiveServer
    school_name: str
    other_school_name: str
    rector_email: str = "rectora@prueba.co"
    reviewer_email: str = "revisor.a@prueba.co"
    other_reviewer_email: str = "revisor.b@prueba.co"

    def ruta(self, state: State, *, other_school: bool = False,
             return_observations: str | None = None) -> int:
        """The id of a new Ruta sent to the Secretaría, then moved by the revisor's services:
        returned to the PMI once with ``return_observations`` when given, then on to ``state``
        along the happy path."""
        with self.server.session() as session:
            rector = session.query(User).filter_by(email=self.rector_email).one()
            reviewer = session.query(User).filter_by(email=self.reviewer_email).one()
            name = self.other_school_name if other_school else self.school_name
            school = session.query(School).filter_by(name=name).one()
            now = utcnow()
            ruta = Factory(session).ruta(school=school, state=State.PMI_FORMULADO)
            ruta.state_changed_at = now - timedelta(days=SUBMITTED_HISTORY[-1][-1])
            for trigger, before, after, by_rector, days_ago in SUBMITTED_HISTORY:
                session.add(RutaTransition(
                    ruta=ruta, trigger=trigger, from_state=before, to_state=after,
                    actor_id=rector.id if by_rector else None,
                    at=now - timedelta(days=days_ago)))
            session.flush()
            if return_observations is not None:
                pmi_actions.take_for_review(session, ruta, reviewer=reviewer,
                                            expected_version=ruta.version)
                # A return sends itemized observations; this one is about the whole plan.
                review.add_observation(session, ruta, reviewer=reviewer, element="plan",
                                       criterion="1", text=return_observations)
                pmi_actions.return_with_observations(
                    session, ruta, reviewer=reviewer, expected_version=ruta.version,
                    observations="", target=ReturnTarget.PMI, rubric=PASSING_RUBRIC)
            while ruta.state is not state:
                trigger = triggers_from(ruta.state)[0]
                fire_action(session, ruta, trigger, actor=reviewer,
                            expected_version=ruta.version, rubric=PASSING_RUBRIC)
            session.commit()
            return ruta.id

    def state_of(self, ruta_id: int) -> tuple[State, list[str]]:
        """The Ruta's stored state and the triggers of its history, oldest first."""
        with self.server.session() as session:
            ruta = session.get_one(Ruta, ruta_id)
            return ruta.state, [entry.trigger for entry in ruta.transitions]


@pytest.fixture
def world(live_server: LiveServer) -> World:
    with live_server.session() as session:
        make = Factory(session)
        school = make.school(name="Institución Educativa Técnica Ambiental Combeima")
        other = make.school(name="Institución Educativa Rural San Bernardo", zona=Zona.RURAL)
        make.user(Role.RECTOR, school=school, email="rectora@prueba.co")
        make.user(Role.REVISOR, email="revisor.a@prueba.co")
        make.user(Role.REVISOR, email="revisor.b@prueba.co")
        session.commit()
        return World(live_server, school.name, other.name)


# --- pages ----------------------------------------------------------------------------------


def describe_violations(url: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"axe-core found {len(violations)} serious or critical violation(s) on {url}:"]
    for violation in violations:
        lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"][:5]:
            lines.append(f"  at {', '.join(map(str, node['target']))}")
            lines.append(f"     {node['html'][:200]}")
            for summary_line in (node.get("failureSummary") or "").splitlines():
                lines.append(f"     {summary_line}")
        if len(violation["nodes"]) > 5:
            lines.append(f"  … and {len(violation['nodes']) - 5} more element(s)")
    return "\n".join(lines)


@dataclass
class Browsing:
    """Opens isolated browser contexts (one per person) and checks the pages they visit."""

    browser: Browser
    server: LiveServer
    axe_source: str
    contexts: list[BrowserContext] = field(default_factory=list)
    policy_violations: list[str] = field(default_factory=list)
    checked_urls: list[str] = field(default_factory=list)

    def new_page(self, viewport: dict[str, int] | None = None, *,
                 javascript: bool = True) -> Page:
        context = self.browser.new_context(
            base_url=self.server.url, viewport=viewport or DESKTOP, locale="es-CO",
            timezone_id="America/Bogota", java_script_enabled=javascript)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._watch_console)
        return page

    def _watch_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.policy_violations.append(message.text)

    def login(self, page: Page, email: str, password: str = PASSWORD) -> None:
        page.goto("/ingresar")
        page.get_by_label("Correo electrónico (obligatorio)", exact=True).fill(email)
        page.get_by_label("Contraseña (obligatorio)", exact=True).fill(password)
        page.get_by_role("button", name="Ingresar").click()
        # Signed in once the redirect away from the sign-in page has loaded.
        page.wait_for_url(lambda url: not url.endswith("/ingresar"))

    def check_accessibility(self, page: Page, *, status: int | None = None) -> None:
        """The page answered as it should (below 400 unless ``status`` names the error page
        expected) and shows a visible main heading; no serious or critical axe-core
        violation, and nothing the CSP had to block.

        A page that is only measured (width, axe) passes on a 500 as well as on the real
        thing: the status and the heading are what say it is the page the test meant."""
        # The HTTP status of the document shown (after redirects), as the browser recorded
        # it: this works for every page, however it was opened or reached (a form's answer).
        shown = page.evaluate(
            "performance.getEntriesByType('navigation')[0]?.responseStatus ?? null")
        if status is None:
            assert shown is not None and shown < 400, f"{page.url} answered {shown}"
        else:
            assert shown == status, f"{page.url} answered {shown}, not {status}"
        heading = page.locator("h1").first
        assert heading.is_visible() and heading.inner_text().strip(), (
            f"{page.url} shows no main heading (h1)")
        assert self.policy_violations == []
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(self.axe_source)
        results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        blocking = [violation for violation in results["violations"]
                    if violation["impact"] in BLOCKING_IMPACTS]
        assert not blocking, describe_violations(page.url, blocking)
        self.checked_urls.append(page.url)

    def screenshot(self, page: Page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


@pytest.fixture
def browsing(browser: Browser, live_server: LiveServer, axe_source: str) -> Iterator[Browsing]:
    # Requesting live_server here makes the contexts close before the server stops, so no
    # keep-alive connection outlives it.
    session = Browsing(browser, live_server, axe_source)
    try:
        yield session
    finally:
        session.close()
    assert session.policy_violations == [], "the Content-Security-Policy blocked something"


# --- the demo Secretaría, for the tests that only read it -----------------------------------


@pytest.fixture(scope="session")
def demo_site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[LiveServer]:
    """`ruta demo`'s Secretaría with ten schools (a Ruta in every state, returned ones too;
    see ``seed_demo_site``), seeded and served once per test process for the tests that only
    read it: the phone and print checks, the accessibility crawl and the keyboard walk. A
    refused form changes nothing, and a test that writes serves its own (``serving``)."""
    require_browser()
    with serving(sqlite_template, tmp_path_factory.mktemp("demo-site"),
                 seed=lambda session: seed_demo_site(session, school_count=10)) as server:
        yield server


def demo_ruta(server: LiveServer, school_number: int, state: State) -> int:
    """The id of the demo school's Ruta in ``state`` (school 1 is «…000001»)."""
    with server.session() as session:
        return session.scalars(select(Ruta.id).join(School).where(
            School.dane_code.endswith(f"{school_number:06d}"), Ruta.state == state)).one()


@pytest.fixture
def demo_browsing(browser: Browser, demo_site: LiveServer, axe_source: str
                  ) -> Iterator[Browsing]:
    session = Browsing(browser, demo_site, axe_source)
    try:
        yield session
    finally:
        session.close()
    assert session.policy_violations == [], "the Content-Security-Policy blocked something"
