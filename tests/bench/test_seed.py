"""bench.seed: the copies of the demo's schools are whole schools the app serves."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bench.run import PASSWORD
from bench.seed import Seeder, app_config
from ruta import create_app
from workflow.autoevaluacion.models import Valoracion
from workflow.catalogo.models import CatalogComponente
from workflow.models import Ruta, School, User
from workflow.roles import Role


def test_copied_schools_are_whole_and_served(database_url: str) -> None:
    report = Seeder().seed(database_url, 24, wipe=False)
    assert report.schools == 24 and report.templates == 15
    assert report.rows["valoraciones"] > 9 * 80  # nine copies with a full autoevaluación
    app = create_app(app_config(database_url, WTF_CSRF_ENABLED=True))
    try:
        with app.extensions["ruta_db"].session_factory() as session:
            codes = session.scalars(select(School.dane_code)).all()
            assert len(codes) == len(set(codes)) == 24
            assert all(re.fullmatch(r"\d{12}", code) for code in codes)
            last = session.scalar(select(School).order_by(School.id.desc()).limit(1))
            rector = session.scalar(select(User).where(User.school_id == last.id,
                                                       User.role == Role.RECTOR))
            ruta = session.scalar(select(Ruta).where(Ruta.school_id == last.id)
                                  .order_by(Ruta.horizon_start_year.desc()).limit(1))
            # Every valoración of the copy is of its own Ruta and of that Ruta's catalog.
            foreign = session.scalar(
                select(func.count()).select_from(Valoracion)
                .join(CatalogComponente, CatalogComponente.id == Valoracion.componente_id)
                .join(Ruta, Ruta.id == Valoracion.ruta_id)
                .where(CatalogComponente.catalog_id != Ruta.catalog_id))
            assert foreign == 0
            email, ruta_id = rector.email, ruta.id
        client = app.test_client()
        page = client.get("/ingresar").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        signed = client.post("/ingresar", data={"email": email, "password": PASSWORD,
                                                "csrf_token": token})
        assert signed.status_code in (302, 303)
        for url in (f"/rutas/{ruta_id}", f"/rutas/{ruta_id}/autoevaluacion",
                    f"/rutas/{ruta_id}/pmi"):
            assert client.get(url).status_code == 200, url
    finally:
        app.extensions["ruta_db"].dispose()
