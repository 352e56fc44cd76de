"""The Secretaría's page of crosswalks between instrument versions (/admin/equivalencias)."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.autoevaluacion.test_autoevaluacion_views import signed_in, text_of
from tests.catalogo.test_crosswalk import SHIPPED, with_entries
from tests.conftest import Factory, WebClient
from workflow.catalogo.catalog import load_shipped_catalogs
from workflow.catalogo.models import Crosswalk
from workflow.roles import Role


def upload(web: WebClient, content: str, name: str = "ibague.json") -> object:
    return web.post("/admin/equivalencias/cargar",
                    data={"archivo": (io.BytesIO(content.encode()), name)},
                    content_type="multipart/form-data")


def test_catalog_page_links_to_the_crosswalks_and_they_list_read_only(
        db: Session, make: Factory, web: WebClient) -> None:
    revisor = make.user(Role.REVISOR)
    load_shipped_catalogs(db)
    db.commit()
    signed_in(web, revisor)
    assert 'href="/admin/equivalencias/"' in text_of(web.get("/catalogos/"))

    page = text_of(web.get("/admin/equivalencias/"))
    assert "guia34-2008 → guia34-2026" in page
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert cells[:3] == ["93", "15", "Todas las Secretarías"]
    assert "Cargar la tabla propia" not in page

    crosswalk_id = db.scalar(select(Crosswalk.id))
    detail = text_of(web.get(f"/admin/equivalencias/{crosswalk_id}"))
    assert ("<th scope=\"row\">DIR.2.1 · Liderazgo</th>\n    <td>DIR.1.3 · Liderazgo y "
            "articulación institucional</td>") in detail
    assert ("<th scope=\"row\">DIR.3.3 · Comisión de evaluación y promoción</th>\n    "
            "<td><strong>Sin equivalente</strong></td>") in detail
    assert upload(web, SHIPPED.read_text(encoding="utf-8")).status_code == 403


def test_administrator_uploads_the_secretarias_own_and_a_bad_one_changes_nothing(
        db: Session, make: Factory, web: WebClient) -> None:
    admin = make.user(Role.ADMINISTRADOR)
    load_shipped_catalogs(db)
    db.commit()
    signed_in(web, admin)

    refused = upload(web, with_entries({"DIR.2.1": "DIR.8.8"}))
    assert refused.status_code == 422
    page = text_of(refused)
    assert "La tabla de equivalencias no se cargó: tiene 1 problema. No se guardó nada." in page
    assert ("El componente «DIR.8.8» (equivalente de «DIR.2.1») no existe en la versión de "
            "destino «guia34-2026».") in page
    assert db.scalar(select(func.count()).select_from(Crosswalk)) == 1

    loaded = upload(web, with_entries({"DIR.2.1": None}))
    assert loaded.status_code == 302
    own = db.scalars(select(Crosswalk).where(Crosswalk.secretaria_id.isnot(None))).one()
    assert (own.secretaria_id, own.loaded_by_id, own.source) == (admin.secretaria_id, admin.id,
                                                                 "ibague.json")
    assert loaded.headers["Location"].endswith(f"/admin/equivalencias/{own.id}")
    page = text_of(web.get("/admin/equivalencias/"))
    assert "No: la Secretaría cargó la suya" in page
    assert "Secretaría de Educación de Ibagué" in page
