"""The ``ruta`` command: schema, demo data, users, Rutas, the state diagram."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from workflow.models import Ruta, RutaTransition, School, User
from workflow.roles import Role
from workflow.states import State

PROJECT = Path(__file__).resolve().parents[2]


def test_demo_represents_every_state_with_real_histories(app: Flask, db: Session) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--schools", "14",
                                                "--password", "clave-demo-larga"])
    assert result.exit_code == 0, result.output
    assert "Datos de ejemplo cargados: 14 instituciones." in result.output
    assert "admin@ruta.demo" in result.output

    states = Counter(db.scalars(select(Ruta.state)).all())
    assert set(states) == set(State)
    # 14 Rutas 2024–2026, one closed 2021–2023 and one 2027–2029 started ahead.
    assert sum(states.values()) == 16
    horizons = Counter(db.scalars(select(Ruta.horizon_start_year)).all())
    assert horizons == {2021: 1, 2024: 14, 2027: 1}
    emails = set(db.scalars(select(User.email)).all())
    assert {"admin@ruta.demo", "revisor1@ruta.demo", "revisor2@ruta.demo",
            "consulta@ruta.demo", "rector01@ruta.demo", "rector14@ruta.demo"} <= emails
    # Every Ruta got where it is through the services: its log ends in its state.
    for ruta in db.scalars(select(Ruta)).all():
        assert ruta.transitions[0].trigger == "abrir_ruta"
        assert ruta.transitions[-1].to_state is ruta.state
    returns = db.scalars(select(RutaTransition).where(RutaTransition.trigger == "devolver")).all()
    assert returns and all(entry.observations for entry in returns)


def test_demo_accounts_can_sign_in(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "--schools", "3", "--password",
                                       "clave-demo-larga"])
    client = app.test_client()
    page = client.get("/ingresar").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/ingresar", data={"email": "rector01@ruta.demo",
                                              "password": "clave-demo-larga",
                                              "csrf_token": token})
    assert response.status_code == 302
    assert client.get("/escuela/").status_code == 302  # to the rector's Ruta


def test_demo_if_empty_leaves_existing_data_alone(app: Flask, db: Session,
                                                  make: Factory) -> None:
    make.school()
    db.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0
    assert "ya tiene datos" in result.output
    assert "equipo01@ruta.demo" in result.output
    assert "por defecto «ruta-demo-2024»" in result.output
    refused = runner.invoke(args=["demo"])
    assert refused.exit_code == 1
    assert "solo se carga en una base vacía" in refused.output
    assert db.scalar(select(func.count()).select_from(School)) == 1


def test_users_create_and_rutas_list(app: Flask, db: Session, make: Factory) -> None:
    ruta = make.ruta(state=State.EN_REVISION)
    db.commit()
    runner = app.test_cli_runner()
    created = runner.invoke(args=["users", "create", "--email", "Nueva.Rectora@Ibague.gov.co",
                                  "--name", "Nueva Rectora", "--role", "rector", "--school",
                                  ruta.school.dane_code, "--password", "una-clave-muy-larga"])
    assert created.exit_code == 0, created.output
    assert created.output.strip() == "Usuario creado: nueva.rectora@ibague.gov.co (Rector(a))."
    user = db.scalar(select(User).where(User.email == "nueva.rectora@ibague.gov.co"))
    assert user is not None and user.role is Role.RECTOR and user.school_id == ruta.school_id
    assert user.must_change_password is False  # chose it themself, at the console

    duplicate = runner.invoke(args=["users", "create", "--email", "nueva.rectora@ibague.gov.co",
                                    "--name", "Otra", "--role", "revisor", "--password",
                                    "una-clave-muy-larga"])
    assert duplicate.exit_code == 1
    assert "Ese correo ya está en uso en el servicio y no se puede repetir." in duplicate.output

    listed = runner.invoke(args=["rutas", "list", "--state", "en_revision"])
    assert listed.exit_code == 0
    assert ruta.school.dane_code in listed.output and "1 Ruta(s)." in listed.output
    assert runner.invoke(args=["rutas", "list", "--state", "aprobado"]).output.strip() \
        == "0 Ruta(s)."


def test_console_script_prints_the_mermaid_diagram(tmp_path: Path) -> None:
    env = {**os.environ, "RUTA_ENV": "development",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'nada.db'}"}
    ruta = Path(sys.executable).parent / "ruta"
    result = subprocess.run([str(ruta), "states", "--format", "mermaid"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "stateDiagram-v2" in result.stdout
    assert "en_revision --> borrador: devolver" in result.stdout


def test_init_db_migrates_a_new_file(tmp_path: Path) -> None:
    database = tmp_path / "nueva.db"
    env = {**os.environ, "RUTA_ENV": "development", "DATABASE_URL": f"sqlite:///{database}"}
    ruta = Path(sys.executable).parent / "ruta"
    result = subprocess.run([str(ruta), "init-db"], env=env, capture_output=True, text=True,
                            timeout=60, check=False, cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("Base de datos lista. Instrumentos cargados: guia34-2008, "
                                     "guia34-2026.")
    assert database.stat().st_size > 0


def test_readme_diagram_is_the_generated_one() -> None:
    from workflow.states import mermaid_diagram

    readme = (PROJECT / "README.md").read_text()
    assert f"```mermaid\n{mermaid_diagram().rstrip()}\n```" in readme


def test_init_db_twice_loads_the_catalogs_once(tmp_path: Path) -> None:
    env = {**os.environ, "RUTA_ENV": "development",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'dos.db'}"}
    ruta = Path(sys.executable).parent / "ruta"
    outputs = [subprocess.run([str(ruta), "init-db"], env=env, capture_output=True, text=True,
                              timeout=60, check=True, cwd=PROJECT).stdout.strip()
               for _ in range(2)]
    listed = subprocess.run([str(ruta), "catalog", "list"], env=env, capture_output=True,
                            text=True, timeout=60, check=True, cwd=PROJECT).stdout
    assert outputs[1] == "Base de datos lista."
    assert listed.count("guia34-2008") == 1 and listed.count("guia34-2026") == 1


def test_help_and_states_need_no_configuration_and_the_rest_says_what_is_missing(
        tmp_path: Path) -> None:
    """Production mode without SECRET_KEY nor DATABASE_URL: ``ruta --help`` and ``ruta
    states`` answer; a command that needs the application says in Spanish what to set."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("RUTA_ENV", "SECRET_KEY", "DATABASE_URL")}
    ruta = Path(sys.executable).parent / "ruta"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ruta), *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False, cwd=tmp_path)

    listed, states, needs_app = run("--help"), run("states"), run("rutas", "list")

    assert listed.returncode == 0, listed.stderr
    for command in ("init-db", "scheduler", "jobs", "export", "states", "users", "run"):
        assert f"\n  {command} " in listed.stdout
    assert states.returncode == 0, states.stderr
    assert "stateDiagram-v2" in states.stdout
    assert needs_app.returncode == 1
    assert needs_app.stderr.startswith("Error de configuración: Falta SECRET_KEY.")
    assert "Traceback" not in needs_app.stderr
