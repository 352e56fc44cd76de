"""``ruta doctor``: checks a production installation part by part and says what to fix.

It needs no working configuration to run (it reports a missing ``SECRET_KEY`` instead of
refusing to start, as the application does) and changes nothing but a probe file in the
evidence folder, deleted at once. Each check gives one line: ✔ or ✘, what was checked, and
for a failure what to do. Exit code 0 when everything passed, 1 otherwise.

- configuration: the environment variables parse (``ruta.config``);
- secret: ``SECRET_KEY`` strong enough for production (``check_production_safety``);
- database: reachable, and its schema at this version's migration (``ruta init-db`` if not);
- clock: the machine's clock agrees with the database server's (a skewed clock sends
  reminders on the wrong day), and America/Bogota is known to the machine;
- mail: the SMTP server answers, with STARTTLS or TLS verified and the login accepted;
- storage: the evidence folder (or bucket) can be written;
- antivirus: when ``CLAMD_SOCKET`` is set, clamd answers PING with PONG;
- scheduler: its heartbeat is recent (``ruta scheduler`` runs somewhere).
"""

from __future__ import annotations

import smtplib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ruta.config import ConfigError, check_production_safety, load_config
from ruta.db import make_engine
from ruta.mail import tls_context
from ruta.migrate import alembic_config
from workflow.operacion import health

CLOCK_TOLERANCE: Final = timedelta(seconds=60)


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str = ""


def _config(env: dict[str, str] | None) -> Iterator[Finding | dict[str, Any]]:
    try:
        config = load_config(env)
    except ConfigError as error:
        yield Finding(False, "Configuración", str(error))
        return
    yield Finding(True, "Configuración", f"modo {config['RUTA_ENV']}")
    try:
        check_production_safety(config)
    except ConfigError as error:
        yield Finding(False, "Clave secreta (SECRET_KEY)", str(error))
    else:
        yield Finding(True, "Clave secreta (SECRET_KEY)",
                      "adecuada" if config["RUTA_ENV"] == "production" else
                      "modo desarrollo: la clave de desarrollo no sirve en producción")
    yield config


def _database(config: dict[str, Any], now: datetime) -> Iterator[Finding]:
    engine = make_engine(config["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            server_now = connection.scalar(text(
                "SELECT now()" if engine.dialect.name == "postgresql" else "SELECT NULL"))
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            yield Finding(True, "Base de datos", f"{engine.dialect.name} responde")
            yield (Finding(True, "Esquema de la base", f"al día (migración {current})")
                   if current == head else
                   Finding(False, "Esquema de la base",
                           f"está en la migración {current or 'ninguna'} y esta versión usa "
                           f"{head}: ejecute «ruta init-db»."))
            if isinstance(server_now, datetime):
                skew = abs(server_now.astimezone(UTC) - now)
                yield (Finding(True, "Reloj", "coincide con el del servidor de base de datos")
                       if skew <= CLOCK_TOLERANCE else
                       Finding(False, "Reloj",
                               f"difiere {int(skew.total_seconds())} s del servidor de base de "
                               "datos: sincronice la hora (NTP) de los dos equipos."))
            with Session(bind=connection) as session:
                yield _scheduler(session, now)
    except SQLAlchemyError as error:
        yield Finding(False, "Base de datos",
                      f"no responde ({type(error.orig or error).__name__}): revise "
                      "DATABASE_URL y que el servidor esté en marcha.")
    finally:
        engine.dispose()


def _scheduler(session: Session, now: datetime) -> Finding:
    part = health.scheduler_part(session, now)
    if part.ok:
        return Finding(True, "Programador de tareas",
                       f"último latido hace {part.detail['segundos_desde_el_ultimo_latido']} s")
    return Finding(False, "Programador de tareas",
                   f"{part.state}: arranque un (solo) proceso «ruta scheduler» como servicio "
                   "del sistema; sin él no salen el correo ni los recordatorios.")


def _timezone() -> Finding:
    try:
        ZoneInfo("America/Bogota")
    except ZoneInfoNotFoundError:
        return Finding(False, "Zona horaria", "el equipo no conoce America/Bogota: instale "
                       "tzdata (apt-get install tzdata).")
    return Finding(True, "Zona horaria", "America/Bogota disponible")


def _mail(config: dict[str, Any]) -> Finding:
    server, port = config["MAIL_SERVER"], int(config["MAIL_PORT"])
    timeout = float(config["MAIL_TIMEOUT_SECONDS"])
    where = f"{server}:{port}"
    try:
        context = tls_context(config.get("MAIL_CA_FILE"))
        host = (smtplib.SMTP_SSL(server, port, timeout=timeout, context=context)
                if config["MAIL_USE_SSL"] else smtplib.SMTP(server, port, timeout=timeout))
        try:
            secured = bool(config["MAIL_USE_SSL"])
            if config["MAIL_USE_TLS"] and not secured:
                host.starttls(context=context)
                secured = True
            if config.get("MAIL_USERNAME") and config.get("MAIL_PASSWORD"):
                host.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        finally:
            host.close()
    except (OSError, smtplib.SMTPException) as error:
        return Finding(False, "Servidor de correo",
                       f"{where} no acepta la conexión ({type(error).__name__}: {error}): revise "
                       "MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS y las credenciales.")
    if not secured:
        return Finding(config["RUTA_ENV"] != "production", "Servidor de correo",
                       f"{where} responde, sin cifrado: en producción use MAIL_USE_TLS=1 "
                       "(STARTTLS) o MAIL_USE_SSL=1.")
    return Finding(True, "Servidor de correo", f"{where} responde, con TLS verificado")


def _storage(config: dict[str, Any]) -> Finding:
    if config["EVIDENCE_STORAGE"] == "s3":
        from workflow.evidencias.s3 import from_config

        problem = health.storage_part(from_config(config)).state
    else:
        from workflow.evidencias.storage import LocalStorage

        problem = health.storage_part(LocalStorage(config["EVIDENCE_FOLDER"])).state
    if problem == health.OK:
        return Finding(True, "Almacenamiento de evidencias", "se puede escribir")
    return Finding(False, "Almacenamiento de evidencias",
                   f"{problem}: revise EVIDENCE_FOLDER (o el bucket S3) y sus permisos.")


def _scanner(config: dict[str, Any]) -> Finding | None:
    address = config.get("CLAMD_SOCKET")
    if not address:
        return None
    from workflow.evidencias.scanner import Clamd

    if Clamd(address, timeout=min(float(config["CLAMD_TIMEOUT_SECONDS"]), 10.0)).ping():
        return Finding(True, "Antivirus de evidencias", f"clamd en {address} responde")
    then = ("se guardan sin revisar (CLAMD_UNREACHABLE=accept)"
            if config["CLAMD_UNREACHABLE"] == "accept" else "se rechazan")
    return Finding(False, "Antivirus de evidencias",
                   f"clamd en {address} no responde: mientras tanto las evidencias {then}. "
                   "Revise que clamd esté en marcha y CLAMD_SOCKET.")


def diagnose(env: dict[str, str] | None = None,
             now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Finding]:
    findings: list[Finding] = []
    config: dict[str, Any] | None = None
    for item in _config(env):
        if isinstance(item, Finding):
            findings.append(item)
        else:
            config = item
    findings.append(_timezone())
    if config is None:
        return findings
    findings += list(_database(config, now()))
    findings.append(_mail(config))
    findings.append(_storage(config))
    scanner = _scanner(config)
    if scanner is not None:
        findings.append(scanner)
    return findings


@click.command("doctor")
def doctor_command() -> None:
    """Check this installation (database, schema, clock, mail, storage, scheduler, secret)."""
    findings = diagnose()
    for finding in findings:
        mark = "✔" if finding.ok else "✘"
        click.echo(f"{mark} {finding.what}: {finding.detail}" if finding.detail
                   else f"{mark} {finding.what}")
    failed = sum(1 for finding in findings if not finding.ok)
    click.echo("Todo en orden." if not failed else
               f"{failed} problema{'s' if failed != 1 else ''} por resolver.")
    sys.exit(1 if failed else 0)
