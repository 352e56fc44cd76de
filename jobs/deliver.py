"""Outbox delivery: drain due e-mails once, over SMTP, with Flask-Mail.

The logic (claiming, outcomes, backoff) lives in ``workflow.correo.delivery``; this job wires it to
the app's database and mail settings. ``MAIL_DELIVERY_WORKERS`` deliverers drain the outbox
side by side, each with its own database session and its own SMTP connection (reused for a
batch of ``MAIL_BATCH_SIZE``): the claim is atomic, so they split the rows and never send
one twice, and while one waits for the mail server or for a commit to reach the disk the
others work. A mail server accepts a few connections from one client at once (Postfix
defaults to 20 per destination).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

from flask import Flask, current_app, has_app_context

from ruta.mail import SmtpTransport, delivery_policy, mail_state
from workflow.correo import delivery
from workflow.correo.delivery import DeliveryPolicy, DeliveryReport
from workflow.models import utcnow


@contextmanager
def _app_context(app: Flask) -> Iterator[None]:
    # Reuse the caller's context: pushing a second one would, on its way out, remove the
    # caller's database session with it.
    if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
        yield
        return
    with app.app_context():
        yield


def _drain(app: Flask, now: datetime, policy: DeliveryPolicy, unreachable: threading.Event,
           max_batches: int | None = None) -> DeliveryReport:
    """One deliverer: batch after batch until nothing is due, the server is unreachable
    (found by this deliverer or another one: the next run tries again), or ``max_batches``."""
    batches = itertools.count()

    def go_on() -> bool:
        return not unreachable.is_set() and (max_batches is None
                                             or next(batches) < max_batches)

    with _app_context(app):
        factory = app.extensions["ruta_db"].session_factory
        with factory() as session:
            report = delivery.deliver_due(session, lambda: SmtpTransport(app), now=now,
                                          policy=policy, go_on=go_on)
    if report.unreachable:
        unreachable.set()
    return report


def deliver_pending(app: Flask, *, now: datetime | None = None) -> DeliveryReport:
    """Deliver every message due at ``now`` (default: the current time), batch by batch.

    Uses its own database sessions (one per deliverer), so it can run in any thread. With
    MAIL_SUPPRESS_SEND on (Flask-Mail's default when TESTING) nothing is claimed: the rows
    stay pending rather than being recorded as sent when they were not.
    """
    with _app_context(app):
        if mail_state(app.config, debug=app.debug, testing=app.testing).suppress:
            return DeliveryReport(suppressed=True)
        policy = delivery_policy(app.config)
        workers = max(1, int(app.config.get("MAIL_DELIVERY_WORKERS", 1)))
    moment = now or utcnow()
    unreachable = threading.Event()
    if workers == 1:
        return _drain(app, moment, policy, unreachable)
    # The first batch goes alone: a server that is down costs one batch an attempt, not one
    # batch per deliverer, and a queue that fits in one batch needs no more connections.
    total = _drain(app, moment, policy, unreachable, max_batches=1)
    if total.unreachable or total.claimed < policy.batch_size:
        return total
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="correo") as pool:
        futures = [pool.submit(_drain, app, moment, policy, unreachable)
                   for _ in range(workers)]
    for future in futures:
        total.add(future.result())
    return total
