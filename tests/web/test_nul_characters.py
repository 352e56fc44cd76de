"""A NUL character in a request is bad input, never a 500 (issue 15, E19).

PostgreSQL cannot store a NUL; psycopg refuses it, and the refusal used to surface as a 500,
also before sign-in (``POST /ingresar``, the ``colegio=`` filter of the queue).
"""

from __future__ import annotations

from io import BytesIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ruta.security import NUL_MESSAGE
from tests.conftest import Factory, WebClient
from workflow.models import LoginFailure, School
from workflow.roles import Role


def test_sign_in_with_a_nul_in_the_email_is_refused_before_anything_runs(
        db: Session, web: WebClient) -> None:
    web.get("/ingresar")

    response = web.post("/ingresar", {"email": "rector\x00@prueba.co", "password": "x" * 12})

    assert response.status_code == 400
    assert NUL_MESSAGE in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_a_nul_in_a_query_filter_or_in_the_address_answers_400(
        db: Session, make: Factory, web: WebClient) -> None:
    reviewer = make.user(Role.REVISOR)
    db.commit()
    web.login(reviewer.email)

    for url in ("/revision/?colegio=Sim%00n", "/revision/?estado=%00", "/rutas/1%00"):
        response = web.get(url)
        assert (url, response.status_code) == (url, 400)
        assert NUL_MESSAGE in response.get_data(as_text=True)


def test_a_nul_in_a_multipart_form_changes_nothing(db: Session, make: Factory,
                                                   web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    school = make.school(admin.secretaria, name="Institución Educativa Simón Bolívar")
    db.commit()
    web.login(admin.email)
    web.get(f"/admin/instituciones/{school.id}/editar")

    response = web.post(f"/admin/instituciones/{school.id}/editar",
                        {"name": "Institución\x00 Educativa", "dane_code": school.dane_code,
                         "zona": school.zona.value, "locality": school.locality,
                         "adjunto": (BytesIO(b"datos"), "acta.pdf")},
                        content_type="multipart/form-data")

    assert response.status_code == 400
    db.expire_all()
    assert db.get(School, school.id).name == "Institución Educativa Simón Bolívar"
