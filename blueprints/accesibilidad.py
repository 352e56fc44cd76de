"""The Declaración de accesibilidad: a public page (Resolución 1519 de 2020 de MinTIC, anexo 1)
saying which standard the service meets, how that is checked, its known limits and where to
report a barrier. Linked from every page's footer (templates/base.html)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from blueprints.access import public

bp = Blueprint("accesibilidad", __name__)

# The day the statement was last checked against the service (update it with each review).
LAST_REVIEWED = date(2026, 12, 6)


@bp.get("/accesibilidad")
@public
def statement() -> str:
    # The Secretaría of whoever is signed in is named beside the contact address; a visitor
    # who is not signed in cannot be tied to one, so the address is the installation's.
    secretaria = current_user.secretaria if current_user.is_authenticated else None
    return render_template("accesibilidad.html", reviewed=LAST_REVIEWED,
                           contact=current_app.config["ACCESSIBILITY_CONTACT"],
                           secretaria=secretaria)
