"""``ruta jobs …``: run background jobs by hand (cron, a deploy check, a stuck queue)."""

from __future__ import annotations

import sys
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs: outbox delivery."""


# ``ruta jobs deliver``'s exit codes (the README lists them for cron and monitoring).
DELIVERED, MAIL_SERVER_DOWN, DATABASE_DOWN = 0, 1, 2


@jobs_group.command("deliver")
@with_appcontext
def deliver_command() -> None:
    """Send the e-mails waiting in the outbox, once, and print what happened.

    Exit codes: 0 done (even if some messages will be retried); 1 the mail server could not
    be reached, or sending is switched off (MAIL_SUPPRESS_SEND); 2 the database could not be
    reached or was lost mid-run (what was not sent goes back to the queue by itself)."""
    from sqlalchemy.exc import DBAPIError

    from jobs.deliver import deliver_pending

    try:
        report = deliver_pending(current_app._get_current_object())  # type: ignore[attr-defined]
    except DBAPIError as error:
        click.echo("No se pudo usar la base de datos durante el envío "
                   f"({type(error.orig).__name__ if error.orig else type(error).__name__}). "
                   "Lo que no alcanzó a salir vuelve a la cola solo; el mensaje que se estaba "
                   "entregando, si había uno, queda «incierto» en «Correo saliente».", err=True)
        sys.exit(DATABASE_DOWN)
    if report.suppressed:
        click.echo("El envío de correo está desactivado (MAIL_SUPPRESS_SEND): no se envió "
                   "nada.", err=True)
        sys.exit(MAIL_SERVER_DOWN)
    click.echo(f"Correo saliente: {report.sent} enviado(s), {report.retrying} por reintentar, "
               f"{report.failed} fallido(s), {report.unknown} incierto(s).")
    if report.refused_recipients:
        click.echo(f"{report.refused_recipients} destinatario(s) rechazado(s) por el servidor: "
                   "vea «Correo saliente».")
    if report.requeued:
        click.echo(f"{report.requeued} mensaje(s) de un envío anterior que se interrumpió "
                   "volvieron a la cola (nunca llegaron al servidor).")
    if report.recovered:
        click.echo(f"{report.recovered} mensaje(s) quedaron inciertos porque un envío anterior "
                   "se interrumpió mientras los entregaba.")
    if report.unreachable:
        click.echo("No se pudo conectar con el servidor de correo: se reintentará más tarde.",
                   err=True)
        sys.exit(MAIL_SERVER_DOWN)


def _as_of(_context: click.Context, _parameter: click.Parameter,
           value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"«{value}» no es una fecha AAAA-MM-DD, por ejemplo "
                                 "2024-01-22.") from None


@jobs_group.command("run-once")
@click.option("--as-of", "as_of", callback=_as_of, metavar="AAAA-MM-DD",
              help="El día (America/Bogota) de la pasada; hoy si se omite.")
@with_appcontext
def run_once_command(as_of: date | None) -> None:
    """Run the daily reminder pass for one day, once, and print what it queued."""
    from jobs.daily import run_daily_pass
    from workflow.models import utcnow

    result = run_daily_pass(current_app._get_current_object(),  # type: ignore[attr-defined]
                            now=utcnow(), day=as_of)
    day = result.day.isoformat()
    for advanced in result.advanced:
        click.echo(f"Horizonte vigente desde hoy: {advanced}.")
    if result.started:
        click.echo(f"{len(result.started)} plan(es) aprobado(s) iniciaron su seguimiento "
                   f"(Rutas {', '.join(str(ruta_id) for ruta_id in result.started)}).")
    if not result.ran:
        click.echo(f"La pasada diaria del {day} ya se había ejecutado: no se encoló nada.")
        return
    click.echo(f"Pasada diaria del {day} (America/Bogota):")
    for reminder in result.queued:
        copy = f"; copia: {', '.join(reminder.cc)}" if reminder.cc else ""
        click.echo(f"  {reminder.rule.label}: {reminder.school_name} (Ruta {reminder.ruta_id})"
                   f" → {', '.join(reminder.to)}{copy}")
    click.echo(f"{len(result.queued)} recordatorio(s) encolado(s).")
