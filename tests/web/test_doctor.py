"""``ruta doctor`` (issue 16, item 7): a production installation checked part by part, with
what to fix, even when the configuration is what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.scheduler import heartbeat_job
from ruta import create_app
from ruta.db import make_engine
from ruta.doctor import Finding, diagnose
from ruta.migrate import upgrade
from tests.conftest import app_config
from tests.smtp import SmtpServer, closed_port, smtp_server

STRONG_SECRET = "k3Yq-8vLr2Xw9Zp1Tn6Ub4Md7Sj0Hc5Fg"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with smtp_server() as running:
        yield running


def production(tmp_path: Path, server: SmtpServer | None, **extra: str) -> dict[str, str]:
    return {"RUTA_ENV": "production", "SECRET_KEY": STRONG_SECRET,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ruta.db'}",
            "EVIDENCE_FOLDER": str(tmp_path / "evidencias"),
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(server.port if server else closed_port()),
            "MAIL_USE_TLS": "0", "MAIL_TIMEOUT_SECONDS": "5", **extra}


def by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.what: finding for finding in findings}


def migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ruta.db'}")
    upgrade(engine)
    engine.dispose()


def test_a_sound_installation_passes_but_clear_text_mail_in_production(
        tmp_path: Path, server: SmtpServer) -> None:
    migrated(tmp_path)
    app = create_app(app_config(f"sqlite:///{tmp_path / 'ruta.db'}"))
    heartbeat_job(app)
    app.extensions["ruta_db"].dispose()

    found = by_name(diagnose(production(tmp_path, server)))

    assert {name for name, finding in found.items() if finding.ok} == {
        "Configuración", "Clave secreta (SECRET_KEY)", "Zona horaria", "Base de datos",
        "Esquema de la base", "Programador de tareas", "Almacenamiento de evidencias"}
    assert found["Esquema de la base"].detail.startswith("al día (migración ")
    assert not found["Servidor de correo"].ok
    assert "sin cifrado: en producción use MAIL_USE_TLS=1" in found["Servidor de correo"].detail


def test_what_is_wrong_is_said_with_what_to_do(tmp_path: Path) -> None:
    # No secret, a database never migrated, no mail server, a file where the folder goes,
    # and no scheduler ever ran.
    (tmp_path / "evidencias").write_text("no es una carpeta")
    env = production(tmp_path, None, SECRET_KEY="")

    found = by_name(diagnose(env))

    assert found["Clave secreta (SECRET_KEY)"].detail.startswith("Falta SECRET_KEY.")
    assert found["Base de datos"].ok
    assert found["Esquema de la base"].detail.endswith("ejecute «ruta init-db».")
    assert "no acepta la conexión" in found["Servidor de correo"].detail
    assert found["Almacenamiento de evidencias"].detail.startswith(
        "no se puede escribir en la carpeta de evidencias")
    assert not found["Programador de tareas"].ok
    assert all(not found[name].ok for name in (
        "Clave secreta (SECRET_KEY)", "Esquema de la base", "Servidor de correo",
        "Almacenamiento de evidencias", "Programador de tareas"))


def test_a_database_that_does_not_answer_and_a_bad_setting(tmp_path: Path) -> None:
    down = by_name(diagnose(production(
        tmp_path, None, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port()}/x")))
    bad = by_name(diagnose(production(tmp_path, None, MAIL_PORT="veinticinco")))

    assert down["Base de datos"].detail.startswith("no responde (OperationalError)")
    assert bad["Configuración"].detail == (
        "La variable MAIL_PORT debe ser un número entero; vale «veinticinco».")
    assert set(bad) == {"Configuración", "Zona horaria"}


def test_the_command_runs_without_a_secret_and_exits_1_listing_the_problems(
        tmp_path: Path) -> None:
    migrated(tmp_path)
    env = {**{name: value for name, value in os.environ.items()
              if name not in ("SECRET_KEY", "RUTA_ENV")},
           **production(tmp_path, None, SECRET_KEY="")}
    ruta = Path(sys.executable).parent / "ruta"

    result = subprocess.run([str(ruta), "doctor"], env=env, capture_output=True, text=True,
                            timeout=60, check=False, cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "✔ Esquema de la base: al día" in "\n".join(lines)
    assert any(line.startswith("✘ Clave secreta (SECRET_KEY): Falta SECRET_KEY.")
               for line in lines)
    assert lines[-1] == "3 problemas por resolver."
    assert "Traceback" not in result.stderr
