"""Alembic environment. The URL comes from the caller (``ruta init-db``) or DATABASE_URL."""

from __future__ import annotations

from alembic import context

import workflow.ajustes.models  # noqa: F401  (registers its tables)
import workflow.autoevaluacion.models  # noqa: F401  (registers its tables)
import workflow.catalogo.models  # noqa: F401  (registers its tables)
import workflow.cierre.models  # noqa: F401  (registers its tables)
import workflow.consolidado.aggregates  # noqa: F401  (registers its table)
import workflow.consolidado.models  # noqa: F401  (registers its tables)
import workflow.cuentas.models  # noqa: F401  (registers its tables)
import workflow.evidencias.models  # noqa: F401  (registers its tables)
import workflow.horizontes.models  # noqa: F401  (registers its tables)
import workflow.pendientes.models  # noqa: F401  (registers its tables)
import workflow.pmi.models  # noqa: F401  (registers its tables)
import workflow.seguimiento.models  # noqa: F401  (registers its tables)
from ruta.config import load_config
from ruta.db import make_engine
from workflow.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or load_config()["DATABASE_URL"]
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
