"""Configuration: production is the default and refuses to start without a strong SECRET_KEY;
development works with nothing set; settings that depend on the mode follow the mode."""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from itsdangerous import BadSignature

from ruta import create_app
from ruta.config import DEVELOPMENT_SECRET, PROJECT_ROOT, ConfigError, load_config

MISSING = ("Falta SECRET_KEY. En producción defina una clave aleatoria de al menos 32 "
           "caracteres, por ejemplo con: python3 -c 'import secrets; "
           "print(secrets.token_urlsafe(48))'. Para probar en un equipo local use "
           "RUTA_ENV=development (o «make run»).")
WEAK = ("SECRET_KEY es débil: en producción debe tener al menos 32 caracteres aleatorios y no "
        "puede ser la clave de desarrollo.")
# The console script beside the interpreter running the tests (whatever the venv is called).
RUTA = Path(sys.executable).parent / "ruta"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the developer's shell exports (``make`` sets RUTA_ENV) must not decide a test."""
    for name in list(os.environ):
        if name.startswith(("RUTA_", "LOGIN_", "MAIL_", "ARGON2_")) or name in {
                "SECRET_KEY", "DATABASE_URL", "TRUSTED_PROXIES"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'ruta.db'}")


@pytest.fixture
def built() -> Iterator[list[Flask]]:
    """Apps a test creates, disposed at the end."""
    apps: list[Flask] = []
    yield apps
    for app in apps:
        app.extensions["ruta_db"].dispose()


def build(built: list[Flask], config: dict[str, Any] | None = None) -> Flask:
    app = create_app(config)
    built.append(app)
    return app


# --- production ---------------------------------------------------------------------------


def test_config_defaults_to_production() -> None:
    config = load_config({})
    assert (config["RUTA_ENV"], config["SECRET_KEY"], config["SESSION_COOKIE_SECURE"],
            config["MAIL_USE_TLS"]) == ("production", "", True, True)


def test_production_refuses_to_start_without_secret_key(built: list[Flask]) -> None:
    with pytest.raises(ConfigError) as raised:
        build(built)
    assert str(raised.value) == MISSING


@pytest.mark.parametrize("secret", [
    "corta",
    "x" * 31 + "y",
    DEVELOPMENT_SECRET,
    "ab" * 40,
    "0123456789" * 4,
    "Qw3-Er4_Ty5!" * 3,
], ids=["corta", "31-caracteres-repetidos", "la-de-desarrollo", "poco-variada",
        "diez-digitos-repetidos", "patron-repetido"])
def test_production_refuses_weak_secret_key(secret: str, monkeypatch: pytest.MonkeyPatch,
                                            built: list[Flask]) -> None:
    monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError) as raised:
        build(built)
    assert str(raised.value) == WEAK


def test_production_accepts_a_hexadecimal_key_that_lacks_some_digits(
        monkeypatch: pytest.MonkeyPatch, built: list[Flask]) -> None:
    # 64 random hexadecimal digits (``openssl rand -hex 32``) lack one of the 16 one time in
    # four: such a key is as strong as any, and was refused as weak.
    chooser = random.Random(17)
    secret = "".join(chooser.choice("0123456789abc") for _ in range(64))
    assert len(set(secret)) == 13
    monkeypatch.setenv("SECRET_KEY", secret)
    assert build(built).config["SECRET_KEY"] == secret


def test_production_refuses_weak_key_even_when_testing(built: list[Flask]) -> None:
    with pytest.raises(ConfigError) as raised:
        build(built, {"RUTA_ENV": "production", "SECRET_KEY": "corta", "TESTING": True})
    assert str(raised.value) == WEAK


def test_production_starts_with_strong_secret_key(monkeypatch: pytest.MonkeyPatch,
                                                  built: list[Flask]) -> None:
    secret = secrets.token_urlsafe(48)
    monkeypatch.setenv("SECRET_KEY", secret)
    app = build(built)
    assert (app.config["RUTA_ENV"], app.config["SECRET_KEY"], app.config["SESSION_COOKIE_SECURE"],
            app.config["SESSION_COOKIE_HTTPONLY"], app.config["SESSION_COOKIE_SAMESITE"]) == (
        "production", secret, True, True, "Lax")


# --- development --------------------------------------------------------------------------


def test_development_works_with_defaults(monkeypatch: pytest.MonkeyPatch,
                                         built: list[Flask]) -> None:
    monkeypatch.setenv("RUTA_ENV", "development")
    app = build(built)
    assert (app.config["SECRET_KEY"], app.config["SESSION_COOKIE_SECURE"],
            app.config["MAIL_USE_TLS"], app.config["MAIL_PORT"]) == (
        DEVELOPMENT_SECRET, False, False, 8025)
    assert app.test_client().get("/ingresar").status_code == 200


def test_mode_given_to_create_app_decides_cookie_security(monkeypatch: pytest.MonkeyPatch,
                                                          built: list[Flask]) -> None:
    # The environment says one mode, the caller another: the caller's mode decides everything.
    monkeypatch.setenv("RUTA_ENV", "production")
    development = build(built, {"RUTA_ENV": "development"})
    monkeypatch.setenv("RUTA_ENV", "development")
    production = build(built, {"RUTA_ENV": "production",
                               "SECRET_KEY": secrets.token_urlsafe(48)})
    assert (development.config["SESSION_COOKIE_SECURE"], development.config["SECRET_KEY"]) == (
        False, DEVELOPMENT_SECRET)
    assert production.config["SESSION_COOKIE_SECURE"] is True
    # S11: the production cookie carries the «__Host-» prefix and what it demands.
    assert development.config["SESSION_COOKIE_NAME"] == "ruta_sesion"
    signin = production.test_client().get("/ingresar", base_url="https://ruta.ibague.gov.co")
    cookies = [header for header in signin.headers.getlist("Set-Cookie")
               if header.startswith("__Host-ruta_sesion=")]
    assert len(cookies) == 1
    parts = {part.strip().split("=")[0].lower() for part in cookies[0].split(";")[1:]}
    assert {"secure", "path", "httponly", "samesite"} <= parts and "domain" not in parts
    assert "Path=/" in cookies[0]


# --- the shipped configuration, as create_app() builds it ---------------------------------
# Every other test app passes overrides (``WTF_CSRF_ENABLED=True``, ``TESTING``...) that would
# hide a weakened default: these build the app from the environment alone, as a server does.


@pytest.mark.parametrize("mode", ["production", "development"])
def test_shipped_config_checks_csrf_and_never_debugs(mode: str, monkeypatch: pytest.MonkeyPatch,
                                                     built: list[Flask]) -> None:
    monkeypatch.setenv("RUTA_ENV", mode)
    if mode == "production":
        monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    app = build(built)
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.config.get("WTF_CSRF_CHECK_DEFAULT", True) is True
    assert (app.debug, app.testing, app.config.get("PROPAGATE_EXCEPTIONS")) == (
        False, False, None)
    # And the check really runs: a sign-in posted without the form's token is refused.
    client = app.test_client()
    base = "https://ruta.ibague.gov.co" if mode == "production" else "http://localhost"
    assert client.get("/ingresar", base_url=base).status_code == 200
    refused = client.post("/ingresar", data={"email": "rector@prueba.co", "password": "x"},
                          base_url=base)
    assert refused.status_code == 400
    assert "El formulario venció o no vino de esta página" in refused.get_data(as_text=True)


@pytest.mark.parametrize(("mode", "cookie", "secure"), [
    ("production", "__Host-ruta_sesion", True),
    ("development", "ruta_sesion", False),
])
def test_shipped_config_session_cookie(mode: str, cookie: str, secure: bool,
                                       monkeypatch: pytest.MonkeyPatch,
                                       built: list[Flask]) -> None:
    monkeypatch.setenv("RUTA_ENV", mode)
    if mode == "production":
        monkeypatch.setenv("SECRET_KEY", secrets.token_urlsafe(48))
    app = build(built)
    assert (app.config["SESSION_COOKIE_NAME"], app.config["SESSION_COOKIE_SECURE"],
            app.config["SESSION_COOKIE_HTTPONLY"], app.config["SESSION_COOKIE_SAMESITE"],
            app.config.get("SESSION_COOKIE_DOMAIN")) == (cookie, secure, True, "Lax", None)
    base = "https://ruta.ibague.gov.co" if secure else "http://localhost"
    headers = [header for header in app.test_client().get(
        "/ingresar", base_url=base).headers.getlist("Set-Cookie")
        if header.startswith(f"{cookie}=")]
    assert len(headers) == 1
    flags = {part.strip().split("=")[0].lower() for part in headers[0].split(";")[1:]}
    assert {"httponly", "samesite"} <= flags and "domain" not in flags
    assert ("secure" in flags) is secure


# --- bad values ---------------------------------------------------------------------------


def test_config_refuses_unknown_mode() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"RUTA_ENV": "staging"})
    assert str(raised.value) == "RUTA_ENV debe ser «production» o «development»; vale «staging»."


def test_config_refuses_number_that_is_not_one() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"RUTA_ENV": "development", "LOGIN_MAX_FAILURES_PER_ACCOUNT": "cinco"})
    assert str(raised.value) == ("La variable LOGIN_MAX_FAILURES_PER_ACCOUNT debe ser un número "
                                 "entero; vale «cinco».")


def test_config_reads_throttle_and_proxy_settings() -> None:
    config = load_config({"RUTA_ENV": "development", "LOGIN_MAX_FAILURES_PER_ACCOUNT": "3",
                          "LOGIN_MAX_FAILURES_PER_ADDRESS": "50", "LOGIN_WINDOW_MINUTES": "30",
                          "TRUSTED_PROXIES": "1"})
    assert (config["LOGIN_MAX_FAILURES_PER_ACCOUNT"], config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
            config["LOGIN_WINDOW_MINUTES"], config["TRUSTED_PROXIES"]) == (3, 50, 30, 1)


def test_config_trusts_no_proxy_by_default() -> None:
    assert load_config({})["TRUSTED_PROXIES"] == 0


# --- the ruta command ---------------------------------------------------------------------


def run_ruta(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Nothing of the developer's environment; PYTHONPATH only so the project's packages import
    # the same way whatever the state of the editable install.
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
             "PYTHONPATH": str(PROJECT_ROOT),
             "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", **env}
    return subprocess.run([str(RUTA), *args], env=clean, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", [["routes"], ["init-db"], ["run", "--port", "5999"]])
def test_cli_in_production_without_secret_key_says_why_and_exits(
        command: list[str], tmp_path: Path) -> None:
    result = run_ruta(tmp_path, *command, RUTA_ENV="production")
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", f"Error de configuración: {MISSING}\n")
    assert not (tmp_path / "cli.db").exists()  # refused before touching anything


def test_cli_in_production_with_weak_secret_key_exits(tmp_path: Path) -> None:
    result = run_ruta(tmp_path, "routes", RUTA_ENV="production", SECRET_KEY="corta")
    assert (result.returncode, result.stderr) == (1, f"Error de configuración: {WEAK}\n")


def test_cli_in_production_with_strong_secret_key_runs(tmp_path: Path) -> None:
    result = run_ruta(tmp_path, "routes", RUTA_ENV="production",
                      SECRET_KEY=secrets.token_urlsafe(48))
    assert (result.returncode, result.stderr) == (0, "")
    assert "auth.login" in result.stdout


def test_a_rotated_key_keeps_sessions_alive_until_they_expire(
        monkeypatch: pytest.MonkeyPatch, built: list[Flask]) -> None:
    """S39b: SECRET_KEY_FALLBACKS. A session signed with the old key still works under the
    new one; without the fallback it is refused; a weak or repeated fallback stops start-up."""
    old, new = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    before = build(built, {"RUTA_ENV": "production", "SECRET_KEY": old})
    with before.test_request_context():
        cookie = before.session_interface.get_signing_serializer(before).dumps(  # type: ignore[attr-defined]
            {"prueba": "sigue"})

    monkeypatch.setenv("SECRET_KEY_FALLBACKS", old)
    rotated = build(built, {"RUTA_ENV": "production", "SECRET_KEY": new})
    monkeypatch.delenv("SECRET_KEY_FALLBACKS")
    forgotten = build(built, {"RUTA_ENV": "production", "SECRET_KEY": new})

    def reads(app: Flask) -> object:
        with app.test_request_context():
            return app.session_interface.get_signing_serializer(app).loads(  # type: ignore[attr-defined]
                cookie)

    assert rotated.config["SECRET_KEY_FALLBACKS"] == [old]
    assert reads(rotated) == {"prueba": "sigue"}
    with pytest.raises(BadSignature):
        reads(forgotten)
    for fallback in ("0123456789" * 4, new):
        monkeypatch.setenv("SECRET_KEY_FALLBACKS", fallback)
        with pytest.raises(ConfigError, match="SECRET_KEY_FALLBACKS es débil o repite"):
            build(built, {"RUTA_ENV": "production", "SECRET_KEY": new})
