"""Outbox delivery: drain due e-mails once, over SMTP, with Flask-Mail.

The logic (claiming, outcomes, backoff) lives in ``workflow.outbox``; this job wires it to
the app's database and mail settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import Flask, current_app, has_app_context

from ruta.mail import SmtpTransport, delivery_policy, mail_state
from workflow import outbox
from workflow.models import utcnow
from workflow.outbox import DeliveryReport


@contextmanager
def _app_context(app: Flask) -> Iterator[None]:
    # Reuse the caller's context: pushing a second one would, on its way out, remove the
    # caller's database session with it.
    if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
        yield
        return
    with app.app_context():
        yield


def deliver_pending(app: Flask, *, now: datetime | None = None) -> DeliveryReport:
    """Deliver every message due at ``now`` (default: the current time), batch by batch.

    Uses its own database session, so it can run in any thread. With MAIL_SUPPRESS_SEND on
    (Flask-Mail's default when TESTING) nothing is claimed: the rows stay pending rather
    than being recorded as sent when they were not.
    """
    with _app_context(app):
        if mail_state(app.config, debug=app.debug, testing=app.testing).suppress:
            return DeliveryReport(suppressed=True)
        factory = app.extensions["ruta_db"].session_factory
        with factory() as session:
            return outbox.deliver_due(session, lambda: SmtpTransport(app),
                                      now=now or utcnow(), policy=delivery_policy(app.config))
