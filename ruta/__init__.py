"""The Ruta web application: ``create_app`` builds it from configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from ruta.config import PROJECT_ROOT, check_production_safety, load_config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides what the environment says (tests pass it)."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    from ruta.presentation import configure_jinja

    configure_jinja(app)
    app.config.update(load_config(mode=(config or {}).get("RUTA_ENV")))
    if config:
        app.config.update(config)
    check_production_safety(app.config)

    register_database(app)
    register_storage(app)
    register_mail(app)
    register_security(app)
    register_assets(app)
    register_compression(app)
    register_templates(app)
    register_blueprints(app)
    register_errors(app)
    register_cli(app)
    return app


def register_database(app: Flask) -> None:
    from ruta.db import Database

    Database(app.config["DATABASE_URL"]).init_app(app)


def register_storage(app: Flask) -> None:
    """Sweep the half-written files of uploads that died (a crash, a full disk) an hour ago
    or more: nothing else would ever delete them."""
    import time

    from workflow.evidencias.storage import LocalStorage

    if app.config.get("EVIDENCE_STORAGE", "local") == "local":
        LocalStorage(app.config["EVIDENCE_FOLDER"]).sweep_partials(older_than=3600,
                                                                   now=time.time())


def register_mail(app: Flask) -> None:
    from ruta import mail

    mail.init_app(app)


def register_security(app: Flask) -> None:
    from ruta import security

    security.init_app(app)


def register_assets(app: Flask) -> None:
    from ruta import assets

    assets.init_app(app)


def register_compression(app: Flask) -> None:
    from ruta import compression

    compression.init_app(app)


def register_templates(app: Flask) -> None:
    from ruta import presentation

    presentation.init_app(app)


def register_blueprints(app: Flask) -> None:
    # Routes of the ``pmi`` blueprint kept in their own module: imported before registering.
    from blueprints import (
        accesibilidad,
        admin,
        ajustes,
        auth,
        autoevaluacion,
        calendario,
        cierre,
        cuenta,
        equipo,
        escuela,
        evidencias,
        horizontes,
        operacion,
        outbox,
        pendientes,
        pmi,
        pmi_documents,  # noqa: F401
        reportes,
        revision,
        rutas,
        seguimiento,
        sesion,
    )

    for module in (auth, cuenta, escuela, rutas, autoevaluacion, equipo, evidencias, pmi, cierre,
                   revision, reportes, admin, outbox, calendario, seguimiento, sesion,
                   horizontes, ajustes, pendientes, operacion, accesibilidad):
        app.register_blueprint(module.bp)


def register_errors(app: Flask) -> None:
    from ruta import errors

    errors.init_app(app)


def register_cli(app: Flask) -> None:
    from ruta import commands

    commands.init_app(app)
