"""Who may open what, checked over the whole URL map so that a new route is covered by itself.

Every view declares its roles (``@roles_required`` or ``@public``). For every route and method:
an anonymous visitor is sent to the sign-in page, a role not allowed gets 403, an allowed role
asking for an object outside its scope gets 404 (exactly like an object that does not exist),
and nothing answers 500. CSRF stays enabled: every POST here carries a real token unless the
test is about its absence.

URL parameters are filled generically: ``PLACE_OBJECTS`` says which object of a school a
parameter names (the scope test takes it from another school and another Secretaría), and
``FIXED_VALUES`` gives a valid value to the parameters that are not objects. A route with a
parameter in neither makes the tests fail and say where to add it.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter

from ruta import create_app
from ruta.errors import TITLES
from tests.conftest import PASSING_RUBRIC_FORM, Factory, WebClient, app_config
from workflow.ajustes.models import AdjustmentChange, ChangeKind, PlanAdjustment
from workflow.autoevaluacion.models import Estamento, TeamMember
from workflow.catalogo.crosswalk import CrosswalkSpec, store_crosswalk
from workflow.catalogo.models import Catalog, CatalogProceso, Crosswalk
from workflow.consolidado.models import ExportJob
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.storage import Limits, LocalStorage, store_file
from workflow.horizontes.models import FollowUpCheckpoint, HorizonCalendar
from workflow.models import (
    Base,
    OutboxMessage,
    OutboxStatus,
    Ruta,
    School,
    Secretaria,
    User,
)
from workflow.roles import Role
from workflow.seguimiento.models import FollowUpReport
from workflow.states import State, Trigger

METHODS = ("GET", "POST")
NOT_ROUTES = {"static"}
CSRF_MESSAGE = "El formulario venció o no vino de esta página."
NOT_FOUND_TITLE = TITLES[404]
FORBIDDEN_TITLE = TITLES[403]


@dataclass
class Place:
    """One school with an object of every kind a URL can name."""

    school: School
    ruta: Ruta
    member: User  # a user of the school who is not signed in during the tests
    message: OutboxMessage  # an e-mail about the Ruta that could not be sent
    checkpoint: FollowUpCheckpoint  # in the calendar of the school's Secretaría
    catalog: Catalog  # the Ruta's instrument, adapted by the school's Secretaría
    proceso: CatalogProceso  # of that instrument
    team_member: TeamMember  # of the Ruta's equipo de gestión
    evidence: EvidenceFile | None = None  # a file of the Ruta (stored by ``build_world``)
    # An Excel export of the Secretaría, asked for by its administrador (``build_world``).
    export_job: ExportJob | None = None
    report: FollowUpReport | None = None  # the Ruta's seguimiento report for the checkpoint
    # The Secretaría's own crosswalk from the school's instrument to an adaptation of it.
    crosswalk: Crosswalk | None = None
    # The Ruta's plan adjustment number 1 and its one change (``build_place``).
    adjustment_change: AdjustmentChange | None = None


HORIZON_START = 2024  # of every Secretaría the tests build

# Which object of a ``Place`` each URL parameter names. A new route with a new parameter needs
# a line here (and, for a new kind of object, a field in ``Place``).
PLACE_OBJECTS: dict[str, Callable[[Place], int]] = {
    "ruta_id": lambda place: place.ruta.id,
    "school_id": lambda place: place.school.id,
    "user_id": lambda place: place.member.id,
    "message_id": lambda place: place.message.id,
    "checkpoint_id": lambda place: place.checkpoint.id,
    "catalog_id": lambda place: place.catalog.id,
    "proceso_id": lambda place: place.proceso.id,
    "member_id": lambda place: place.team_member.id,
    "evidence_id": lambda place: place.evidence.id,  # type: ignore[union-attr]
    "job_id": lambda place: place.export_job.id,  # type: ignore[union-attr]
    "report_id": lambda place: place.report.id,  # type: ignore[union-attr]
    "crosswalk_id": lambda place: place.crosswalk.id,  # type: ignore[union-attr]
    "change_id": lambda place: place.adjustment_change.id,  # type: ignore[union-attr]
}

# Parameters that are not objects: a valid value, the same for every place.
FIXED_VALUES: dict[str, str | int] = {
    "trigger_name": Trigger.APROBAR.value,
    "start_year": HORIZON_START,  # the horizon every Secretaría of the tests has
    "area_code": "DIR",  # an área of every catalog of the tests
    "chart": "areas",  # one of the perfil's charts
    "token": "enlace-que-nadie-recibio",  # a link sent by e-mail (no such link: 410)
    "number": 1,  # of a plan adjustment: every place's Ruta has its first (``build_place``)
}

# Ids no row has: the biggest PostgreSQL integer and one no database integer holds.
MISSING_IDS = (2**31 - 1, 10**20)


# --- the URL map --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    endpoint: str
    rule: str
    method: str
    arguments: tuple[str, ...]
    int_arguments: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def app_routes(app: Flask) -> list[Route]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_ROUTES:
            continue
        int_arguments = tuple(sorted(name for name, converter in rule._converters.items()
                                     if isinstance(converter, IntegerConverter)))
        for method in METHODS:
            if method in (rule.methods or ()):
                routes.append(Route(rule.endpoint, rule.rule, method,
                                    tuple(sorted(rule.arguments)), int_arguments))
    return sorted(routes, key=str)


@cache
def url_map_app() -> Flask:
    """An app built only to read its URL map while tests are collected (no database used)."""
    return create_app(app_config("sqlite://"))


def allowed_roles(app: Flask, endpoint: str) -> frozenset[Role] | None:
    view = app.view_functions[endpoint]
    if not hasattr(view, "allowed_roles"):
        pytest.fail(f"the view of {endpoint} declares no roles: decorate it with "
                    "@roles_required(...) or @public (blueprints/access.py), below the route")
    return view.allowed_roles  # type: ignore[no-any-return]


def is_public(route: Route) -> bool:
    view = url_map_app().view_functions[route.endpoint]
    return hasattr(view, "allowed_roles") and view.allowed_roles is None


def parametrize_routes(metafunc: pytest.Metafunc) -> None:
    """Each test names the routes it needs by the name of its argument."""
    routes = app_routes(url_map_app())
    selections: dict[str, list[Route]] = {
        "route": routes,
        "protected_route": [route for route in routes if not is_public(route)],
        "scoped_route": [route for route in routes
                         if not is_public(route) and route.int_arguments],
        "post_route": [route for route in routes if route.method == "POST"],
    }
    for name, selected in selections.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, selected, ids=str)
    if "endpoint" in metafunc.fixturenames:
        endpoints = sorted({route.endpoint for route in routes})
        metafunc.parametrize("endpoint", endpoints)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_routes(metafunc)


def url_for_route(app: Flask, route: Route, objects: Mapping[str, int],
                  **replaced: int) -> str:
    """The route's URL with ``objects`` for its object parameters, valid values for the rest
    and ``replaced`` over both."""
    values: dict[str, Any] = {}
    for name in route.arguments:
        if name in replaced:
            values[name] = replaced[name]
        elif name in objects:
            values[name] = objects[name]
        elif name in FIXED_VALUES:
            values[name] = FIXED_VALUES[name]
        else:
            pytest.fail(f"{route} takes <{name}>, which tests/web/test_access.py cannot fill: add "
                        "it to PLACE_OBJECTS (an id of an object of a school) or to "
                        "FIXED_VALUES (a valid value that is not an object)")
    adapter = app.url_map.bind("localhost")
    return adapter.build(route.endpoint, values, method=route.method)


# --- the world every route is tried against -------------------------------------------------


@dataclass
class World:
    """Secretaría X with schools A and B, and Secretaría Y with school C.

    Every signed-in user belongs to X; the school roles to school A.
    """

    app: Flask
    web_factory: Callable[[], WebClient]
    users: dict[Role, User]
    home: Place
    same_secretaria: Place
    other_secretaria: Place
    clients: dict[Role, WebClient] = field(default_factory=dict)

    @property
    def in_scope(self) -> dict[str, int]:
        return self.objects(self.home)

    @staticmethod
    def objects(place: Place) -> dict[str, int]:
        return {name: pick(place) for name, pick in PLACE_OBJECTS.items()}

    def outside(self, role: Role) -> list[tuple[str, Place]]:
        """The places ``role`` must not see into."""
        if role.belongs_to_school:
            return [("otra institución", self.same_secretaria),
                    ("otra Secretaría", self.other_secretaria)]
        return [("otra Secretaría", self.other_secretaria)]

    def client(self, role: Role) -> WebClient:
        if role not in self.clients:
            client = self.web_factory()
            response = client.login(self.users[role].email)
            assert response.status_code == 302, f"{role} could not sign in"
            self.clients[role] = client
        return self.clients[role]


def build_place(make: Factory, secretaria: Secretaria) -> Place:
    school = make.school(secretaria)
    catalog = make.catalog(f"prueba-{school.dane_code}", secretaria=secretaria)
    ruta = make.ruta(school, State.EN_REVISION, catalog=catalog)
    team_member = TeamMember(ruta_id=ruta.id, name="Integrante del equipo",
                             email=f"integrante{ruta.id}@prueba.co",
                             estamento=Estamento.DOCENTE)
    make.db.add(team_member)
    member = make.user(Role.EQUIPO, school=school)
    message = OutboxMessage(
        secretaria_id=secretaria.id, ruta_id=ruta.id, kind="prueba",
        dedupe_key=f"prueba-{ruta.id}", recipients=[member.email], subject="Prueba",
        text_body="Prueba", html_body="<p>Prueba</p>", status=OutboxStatus.FAILED,
        attempts=3, last_error="Conexión rechazada")
    make.db.add(message)
    checkpoint = FollowUpCheckpoint(calendar=calendar_of(make.db, secretaria),
                                    name=f"Seguimiento de {school.name}", due_on=date(2024, 6, 28))
    make.db.add(checkpoint)
    make.db.flush()
    report = FollowUpReport(ruta_id=ruta.id, checkpoint_id=checkpoint.id)
    make.db.add(report)
    adjustment = PlanAdjustment(ruta_id=ruta.id, number=1, created_by_id=member.id)
    adjustment.changes.append(AdjustmentChange(
        kind=ChangeKind.ADD, element_kind="actividad", element_id=None, proposed={},
        justification="Una actividad nueva.", created_by_id=member.id))
    make.db.add(adjustment)
    make.db.flush()
    adapted = make.catalog(f"prueba-{school.dane_code}-b", secretaria=secretaria)
    crosswalk = store_crosswalk(make.db, CrosswalkSpec(
        catalog.slug, adapted.slug, "Prueba", "", [(item.code, item.code)
                                                   for item in catalog.componentes]),
        source="prueba.json", secretaria_id=secretaria.id)
    return Place(report=report, adjustment_change=adjustment.changes[0], school=school,
                 ruta=ruta, member=member, message=message, checkpoint=checkpoint, catalog=catalog,
                 proceso=catalog.areas[0].procesos[0], team_member=team_member,
                 crosswalk=crosswalk)


def calendar_of(db: Session, secretaria: Secretaria) -> HorizonCalendar:
    calendar = db.scalar(select(HorizonCalendar).where(
        HorizonCalendar.secretaria_id == secretaria.id,
        HorizonCalendar.horizon_start_year == HORIZON_START))
    if calendar is None:
        assert secretaria.horizon_start_year == HORIZON_START
        calendar = HorizonCalendar(
            secretaria_id=secretaria.id, horizon_start_year=HORIZON_START,
            horizon_end_year=secretaria.horizon_end_year, pmi_deadline=date(2024, 3, 29),
            self_assessment_opens=date(2024, 1, 22), self_assessment_closes=date(2024, 3, 8))
        db.add(calendar)
    return calendar


def build_world(app: Flask, db: Session, make: Factory,
                web_factory: Callable[[], WebClient], evidence_folder: Path | None = None
                ) -> World:
    ours = make.secretaria()
    theirs = make.secretaria("Secretaría de Educación del Tolima", "73")
    home = build_place(make, ours)
    world = World(
        app=app, web_factory=web_factory,
        users={
            Role.ADMINISTRADOR: make.user(Role.ADMINISTRADOR, secretaria=ours),
            Role.REVISOR: make.user(Role.REVISOR, secretaria=ours),
            Role.CONSULTA: make.user(Role.CONSULTA, secretaria=ours),
            Role.RECTOR: make.user(Role.RECTOR, school=home.school),
            Role.EQUIPO: make.user(Role.EQUIPO, school=home.school),
        },
        home=home,
        same_secretaria=build_place(make, ours),
        other_secretaria=build_place(make, theirs),
    )
    # Everyone of the other Secretaría exists too, so a leak across tenants would show.
    their_users = {role: make.user(role, secretaria=theirs)
                   for role in (Role.ADMINISTRADOR, Role.REVISOR, Role.CONSULTA)}
    for place, requester in ((world.home, world.users[Role.ADMINISTRADOR]),
                             (world.same_secretaria, world.users[Role.ADMINISTRADOR]),
                             (world.other_secretaria, their_users[Role.ADMINISTRADOR])):
        place.export_job = ExportJob(secretaria_id=place.school.secretaria_id,
                                     requested_by_id=requester.id)
        db.add(place.export_job)
    make.user(Role.RECTOR, school=world.other_secretaria.school)
    app.config["EVIDENCE_FOLDER"] = str(evidence_folder or tempfile.mkdtemp(prefix="evidencias"))
    storage = LocalStorage(app.config["EVIDENCE_FOLDER"])
    for place in (world.home, world.same_secretaria, world.other_secretaria):
        place.evidence = store_file(db, storage, ruta=place.ruta, uploaded_by=None,
                                    filename="acta.pdf", stream=io.BytesIO(b"%PDF-1.4\n%%EOF\n"),
                                    limits=Limits())
    db.commit()
    return world


@pytest.fixture
def world(app: Flask, db: Session, make: Factory,
          web_factory: Callable[[], WebClient], tmp_path: Path) -> World:
    return build_world(app, db, make, web_factory, tmp_path / "evidencias")


def send(client: WebClient, route: Route, url: str, *, csrf: bool = True,
         data: dict[str, Any] | None = None) -> Any:
    response = (client.get(url) if route.method == "GET"
                else client.post(url, data or {}, csrf=csrf))
    # Read the body and close: a file sent by a view (a download) is open until then.
    response.get_data()
    response.close()
    return response


#: What a refused request does write: the security log records the refusal itself, and a
#: session's ``last_seen_at`` moves when a minute has passed since the previous request.
NOT_SNAPSHOT = {"security_events": (), "user_sessions": ("last_seen_at",)}


def snapshot(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read afresh: to prove that a request changed nothing."""
    with app.extensions["ruta_db"].engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(
                select(*(column for column in table.columns
                         if column.name not in NOT_SNAPSHOT.get(table.name, ())))
                .order_by(*table.primary_key.columns))]
            for table in Base.metadata.sorted_tables if NOT_SNAPSHOT.get(table.name) != ()
        }


def login_redirect(response: Any) -> tuple[int, str, dict[str, list[str]]]:
    """Status, path and query of a redirect, to compare with (302, "/ingresar", {"next": …})."""
    location = urlsplit(response.headers.get("Location", ""))
    return response.status_code, location.path, parse_qs(location.query)


# --- every view declares its roles ------------------------------------------------------------


def test_route_declares_roles_and_known_parameters(endpoint: str) -> None:
    # An id of a new kind of object belongs in PLACE_OBJECTS, so that the scope test below
    # asks for one from another school and another Secretaría.
    app = url_map_app()
    roles = allowed_roles(app, endpoint)
    if roles is not None:
        assert isinstance(roles, frozenset)
        assert roles and roles <= set(Role), f"{endpoint} allows {roles}"
    for rule in app.url_map.iter_rules(endpoint):
        for name in rule.arguments:
            assert name in PLACE_OBJECTS or name in FIXED_VALUES, (
                f"{rule.rule} takes <{name}>: add it to PLACE_OBJECTS or FIXED_VALUES in "
                "tests/web/test_access.py so the access tests can fill it")


def test_url_map_has_the_known_routes() -> None:
    # The walk below is only as good as the map it reads: these must be in it.
    found = {str(route) for route in app_routes(url_map_app())}
    assert {"GET /", "GET /salud", "GET /ingresar", "POST /ingresar", "POST /salir",
            "GET /cuenta/contrasena", "POST /cuenta/contrasena", "GET /escuela/",
            "GET /rutas/<int:ruta_id>", "POST /rutas/<int:ruta_id>/acciones/<trigger_name>",
            "GET /revision/"} <= found


def test_route_without_roles_is_caught() -> None:
    # The check above must be able to fail: an undeclared view is reported.
    app = create_app(app_config("sqlite://"))
    app.add_url_rule("/sin-roles", "sin_roles", lambda: "hola")
    with pytest.raises(pytest.fail.Exception, match="declares no roles"):
        allowed_roles(app, "sin_roles")


def test_route_with_unknown_parameter_is_caught() -> None:
    route = Route("x", "/cosas/<int:thing_id>", "GET", ("thing_id",), ("thing_id",))
    with pytest.raises(pytest.fail.Exception, match="add it to PLACE_OBJECTS"):
        url_for_route(url_map_app(), route, {})


# --- anonymous visitors ---------------------------------------------------------------------


def test_route_sends_anonymous_visitor_to_login(protected_route: Route, world: World) -> None:
    route = protected_route
    url = url_for_route(world.app, route, world.in_scope)
    visitor = world.web_factory()
    before = snapshot(world.app)
    if route.method == "GET":
        response = send(visitor, route, url)
        assert login_redirect(response) == (302, "/ingresar", {"next": [url]})
    else:
        without_token = visitor.post(url, csrf=False)
        assert without_token.status_code == 400
        assert CSRF_MESSAGE in without_token.get_data(as_text=True)
        # With a valid token the visitor is sent to sign in, back to the page it came from
        # (the action's own URL only takes POST, so it cannot be the way back).
        with_token = visitor.post(url, headers={"Referer": "http://localhost/revision/"})
        assert login_redirect(with_token) == (302, "/ingresar", {"next": ["/revision/"]})
    assert snapshot(world.app) == before


# --- roles ------------------------------------------------------------------------------------


def test_route_refuses_roles_not_allowed(protected_route: Route, world: World) -> None:
    route = protected_route
    allowed = allowed_roles(world.app, route.endpoint)
    assert allowed is not None
    url = url_for_route(world.app, route, world.in_scope)
    refused = [role for role in Role if role not in allowed]
    for role in refused:
        world.client(role)
    before = snapshot(world.app)
    answers = {}
    for role in refused:
        response = send(world.client(role), route, url)
        page = response.get_data(as_text=True)
        answers[role] = (response.status_code, FORBIDDEN_TITLE in page)
    assert answers == {role: (403, True) for role in refused}
    assert snapshot(world.app) == before


def test_route_never_fails_for_anyone_in_scope(route: Route, world: World) -> None:
    """Every role (and nobody) on objects of its own school: no 500, and allowed roles get in.

    Public pages (sign-in, health, links sent by e-mail) answer as they see fit; only never 500.
    """
    allowed = allowed_roles(world.app, route.endpoint)
    url = url_for_route(world.app, route, world.in_scope)
    problems = []
    anonymous = send(world.web_factory(), route, url)
    if anonymous.status_code >= 500:
        problems.append(f"anónimo: {anonymous.status_code}")
    for role in Role:
        response = send(world.client(role), route, url)
        status = response.status_code
        may = allowed is None or role in allowed
        if status >= 500:
            problems.append(f"{role}: {status}")
        elif not may and status != 403:
            problems.append(f"{role} (no permitido): {status}")
        elif may and allowed is not None and route.method == "GET" and not (
                status == 200 or (status == 302
                                  and not response.headers["Location"].startswith("/ingresar"))):
            problems.append(f"{role} (permitido): {status} {response.headers.get('Location')}")
        elif may and status == 404:
            problems.append(f"{role} (permitido, en su alcance): 404")
    assert problems == []


# --- scope ------------------------------------------------------------------------------------


def test_route_hides_objects_out_of_scope(scoped_route: Route, world: World) -> None:
    route = scoped_route
    allowed = allowed_roles(world.app, route.endpoint)
    assert allowed is not None
    tries: list[tuple[Role, str, str]] = []
    for role in sorted(allowed):
        for label, place in world.outside(role):
            for name in route.int_arguments:
                if name in PLACE_OBJECTS:
                    objects = {**world.in_scope, name: world.objects(place)[name]}
                    tries.append((role, f"{name} de {label}",
                                  url_for_route(world.app, route, objects)))
            if len(set(route.arguments) & PLACE_OBJECTS.keys()) > 1:
                tries.append((role, f"todo de {label}",
                              url_for_route(world.app, route, world.objects(place))))
        for missing in MISSING_IDS:
            for name in route.int_arguments:
                tries.append((role, f"{name}={missing} inexistente",
                              url_for_route(world.app, route, world.in_scope,
                                            **{name: missing})))
        world.client(role)
    before = snapshot(world.app)
    answers = {}
    for role, what, url in tries:
        response = send(world.client(role), route, url)
        page = response.get_data(as_text=True)
        answers[(role, what)] = (response.status_code, NOT_FOUND_TITLE in page)
    assert answers == {(role, what): (404, True) for role, what, _ in tries}
    assert snapshot(world.app) == before


def test_rector_forbidden_action_on_own_ruta_is_403(world: World, db: Session) -> None:
    # Visible object, action of another role: 403, and the Ruta does not move.
    ruta = world.home.ruta
    client = world.client(Role.RECTOR)
    response = client.post(f"/rutas/{ruta.id}/acciones/{Trigger.APROBAR.value}",
                           {"version": str(ruta.version)})
    assert response.status_code == 403
    assert FORBIDDEN_TITLE in response.get_data(as_text=True)
    assert db.scalar(select(Ruta.state).where(Ruta.id == ruta.id)) is State.EN_REVISION


def test_revisor_of_other_secretaria_cannot_act_on_ruta(world: World, db: Session) -> None:
    ruta = world.other_secretaria.ruta
    client = world.client(Role.REVISOR)
    response = client.post(f"/rutas/{ruta.id}/acciones/{Trigger.APROBAR.value}",
                           {"version": str(ruta.version)})
    assert response.status_code == 404
    assert db.scalar(select(Ruta.state).where(Ruta.id == ruta.id)) is State.EN_REVISION


def test_revisor_approves_ruta_of_own_secretaria(world: World, db: Session) -> None:
    # The positive counterpart of the two tests above, through the same form.
    ruta = world.same_secretaria.ruta
    client = world.client(Role.REVISOR)
    response = client.post(f"/rutas/{ruta.id}/acciones/{Trigger.APROBAR.value}",
                           {"version": str(ruta.version), **PASSING_RUBRIC_FORM})
    assert (response.status_code, response.headers["Location"]) == (302, f"/rutas/{ruta.id}")
    assert db.scalar(select(Ruta.state).where(Ruta.id == ruta.id)) is State.APROBADO
