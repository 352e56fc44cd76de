"""Domain errors. Views map each to an HTTP answer; messages are Spanish and shown to users."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """Base class. ``message`` is safe to show to the user."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unavailable(DomainError):
    """A part the service needs (the evidence storage) does not answer now: try again later.
    Answered 503 with ``Retry-After``, keeping what the person typed (``ruta.errors``)."""

    status = 503


class NotFound(DomainError):
    """The object does not exist or is outside the user's scope (the two look the same)."""

    status = 404


class Forbidden(DomainError):
    """The user sees the object but may not do this to it."""

    status = 403


class StaleRuta(DomainError):
    """Someone else changed the Ruta since the user loaded it."""

    status = 409

    def __init__(self, ruta_id: int) -> None:
        super().__init__("Esta Ruta cambió mientras usted la tenía abierta. Recargue la página "
                         "para ver su estado actual antes de volver a intentarlo.")
        self.ruta_id = ruta_id


class NotEditable(DomainError):
    """What the user tried to change cannot change now (the Ruta's state, a report already
    sent, an evaluation already closed); the message says why and when it can."""

    status = 409


class InvalidTransition(DomainError):
    """The action is not possible from the Ruta's current state."""

    status = 409


class GuardFailed(DomainError):
    """The action is possible from this state, but the Ruta's content does not allow it yet."""

    status = 422

    def __init__(self, message: str, reasons: Sequence[str]) -> None:
        super().__init__(message)
        self.reasons = list(reasons)


class InvalidInput(DomainError):
    """Input that fails validation; ``errors`` maps a field (or ``""``) to its messages."""

    status = 422

    def __init__(self, errors: dict[str, list[str]]) -> None:
        first = next((messages[0] for messages in errors.values() if messages), "Dato inválido.")
        super().__init__(first)
        self.errors = errors


class StaleEdit(DomainError):
    """Someone saved the same record (a PMI element, a valoración, a team member, a report
    line…) after this person opened it. The view re-shows the person's own values with the
    saved ones beside them, to merge and save again; nothing of either is lost."""

    status = 409

    def __init__(self, what: str) -> None:
        super().__init__(f"Otra persona guardó cambios en {what} mientras usted lo editaba. "
                         "Sus valores siguen en el formulario, sin guardar; al lado de cada "
                         "campo que cambió está lo que quedó guardado. Combine y guarde de "
                         "nuevo.")
        self.what = what


def require_version(current: int, expected: int | None, what: str) -> None:
    """Raise ``StaleEdit`` when the form was drawn from an older version than ``current``.

    ``expected`` None (a form that predates versioning) is accepted."""
    if expected is not None and expected != current:
        raise StaleEdit(what)
