"""Configuration from environment variables, with safe development defaults.

``RUTA_ENV`` is ``production`` unless said otherwise: a server started without thinking gets
the strict settings, and refuses to start without a strong ``SECRET_KEY``. ``make run`` sets
``RUTA_ENV=development``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Only ever used with RUTA_ENV=development; production refuses it.
DEVELOPMENT_SECRET = "desarrollo-local-no-usar-en-produccion"  # noqa: S105
MIN_SECRET_LENGTH = 32
# Fewer than this many different characters is not a random key. Not 16: a key of 64
# hexadecimal digits (``openssl rand -hex 32``, 256 random bits) lacks one of the 16 digits
# one time in four, and was refused as weak; at 10 such a key never is (and a 32-digit one
# one time in ten thousand), while repeated patterns are caught by their own check.
MIN_DISTINCT_CHARACTERS = 10


class ConfigError(RuntimeError):
    """The configuration cannot run safely. The message says what to set, in Spanish."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"La variable {name} debe ser un número entero; vale «{raw}».") from None


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    """A number of days of at least one (zero would undo a retention at once)."""
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"La variable {name} es un número de días, al menos 1; vale «{value}».")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "si", "sí", "on"}


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or default).strip().lower()
    if raw not in allowed:
        raise ConfigError(f"La variable {name} debe ser una de: {', '.join(allowed)}; "
                          f"vale «{raw}».")
    return raw


def _networks(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    """Comma-separated addresses or networks (``10.0.0.0/8``), checked now, not at first use."""
    import ipaddress

    raw = env.get(name)
    items = [item.strip() for item in (default if raw is None else raw).split(",")
             if item.strip()]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"La variable {name} lleva direcciones o redes separadas por "
                              f"comas (127.0.0.1, 10.0.0.0/8); «{item}» no lo es.") from None
    return tuple(items)


def _roles(env: Mapping[str, str], name: str, default: str) -> frozenset[str]:
    """Comma-separated role names (``administrador,revisor``), checked now."""
    from workflow.roles import Role

    raw = env.get(name)
    items = {item.strip().lower() for item in (default if raw is None else raw).split(",")
             if item.strip()}
    unknown = sorted(items - {role.value for role in Role})
    if unknown:
        raise ConfigError(f"La variable {name} lleva roles separados por comas (uno de: "
                          f"{', '.join(role.value for role in Role)}); «{unknown[0]}» no lo es.")
    return frozenset(items)


def load_config(env: Mapping[str, str] | None = None, *,
                mode: str | None = None) -> dict[str, Any]:
    """Settings from ``env`` (the process environment by default).

    ``mode`` overrides ``RUTA_ENV``: every default that depends on it (secure cookies, TLS for
    mail, the development secret) must follow the mode the app really runs in, even when the
    mode comes from the caller's overrides rather than from the environment.
    """
    env = os.environ if env is None else env
    mode = (mode or env.get("RUTA_ENV", "production")).strip().lower()
    if mode not in {"production", "development"}:
        raise ConfigError(f"RUTA_ENV debe ser «production» o «development»; vale «{mode}».")
    development = mode == "development"
    default_db = f"sqlite:///{PROJECT_ROOT / 'instance' / 'ruta.db'}"
    config: dict[str, Any] = {
        "RUTA_ENV": mode,
        "SECRET_KEY": env.get("SECRET_KEY", DEVELOPMENT_SECRET if development else ""),
        # Key rotation: the previous keys, comma-separated, still accepted for sessions and
        # signed links until they expire; new ones are signed with SECRET_KEY only.
        "SECRET_KEY_FALLBACKS": [key.strip() for key in env.get(
            "SECRET_KEY_FALLBACKS", "").split(",") if key.strip()],
        "DATABASE_URL": env.get("DATABASE_URL", default_db),
        "RUTA_BASE_URL": env.get("RUTA_BASE_URL", "http://127.0.0.1:5000"),
        "MAIL_SERVER": env.get("MAIL_SERVER", "127.0.0.1"),
        "MAIL_PORT": _int(env, "MAIL_PORT", 8025 if development else 587),
        "MAIL_USE_TLS": _bool(env, "MAIL_USE_TLS", not development),
        "MAIL_USE_SSL": _bool(env, "MAIL_USE_SSL", False),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER",
                                       "Ruta de Mejoramiento <no-responder@ruta.local>"),
        "MAIL_TIMEOUT_SECONDS": _int(env, "MAIL_TIMEOUT_SECONDS", 30),
        # Where the Declaración de accesibilidad (/accesibilidad) asks people to report a
        # barrier: the Secretaría's address for such reports (a person reads it, not a robot).
        "ACCESSIBILITY_CONTACT": (env.get("ACCESSIBILITY_CONTACT") or "").strip()
        or "accesibilidad@ruta.local",
        # The CA that signs the mail server's certificate, when it is not a public one.
        "MAIL_CA_FILE": env.get("MAIL_CA_FILE") or None,
        "MAIL_MAX_ATTEMPTS": _int(env, "MAIL_MAX_ATTEMPTS", 8),
        "MAIL_BATCH_SIZE": _int(env, "MAIL_BATCH_SIZE", 50),
        "MAIL_STALE_CLAIM_MINUTES": _int(env, "MAIL_STALE_CLAIM_MINUTES", 30),
        "MAIL_DELIVERY_WORKERS": _int(env, "MAIL_DELIVERY_WORKERS", 4),
        # Failed sign-ins allowed per window (README, «Límites de intentos»): per account from
        # any address, per account from one address, and per address (high: a school's
        # staff share one public address; past it only accounts known there are checked).
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": _int(env, "LOGIN_MAX_FAILURES_PER_ACCOUNT", 10),
        "LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS": _int(
            env, "LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", 5),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": _int(env, "LOGIN_MAX_FAILURES_PER_ADDRESS", 100),
        "LOGIN_WINDOW_MINUTES": _int(env, "LOGIN_WINDOW_MINUTES", 15),
        # Roles that must use two-step verification (TOTP): without it they are sent to
        # enrol right after signing in. Development (and the test suite) asks it of nobody,
        # so the demo accounts sign in with their password alone.
        "MFA_REQUIRED_ROLES": _roles(env, "MFA_REQUIRED_ROLES",
                                     "" if development else "administrador,revisor"),
        # Password-reset requests per hour, per address and per e-mail; past them the answer
        # is the same and no mail goes out.
        "RESET_MAX_PER_ADDRESS_PER_HOUR": _int(env, "RESET_MAX_PER_ADDRESS_PER_HOUR", 5),
        "RESET_MAX_PER_ACCOUNT_PER_HOUR": _int(env, "RESET_MAX_PER_ACCOUNT_PER_HOUR", 3),
        # A session ends on the server after this long without a request, and this long
        # after sign-in whatever happens (what was being typed survives: ruta.resume).
        "SESSION_IDLE_MINUTES": _int(env, "SESSION_IDLE_MINUTES", 120),
        "SESSION_MAX_HOURS": _int(env, "SESSION_MAX_HOURS", 12),
        # The security log as JSON lines (one event per line) for a SIEM; empty: only the
        # «ruta.security» logger (and the security_events table).
        "SECURITY_LOG_FILE": env.get("SECURITY_LOG_FILE") or None,
        "ARGON2_TIME_COST": _int(env, "ARGON2_TIME_COST", 3),
        "ARGON2_MEMORY_COST": _int(env, "ARGON2_MEMORY_COST", 65536),
        "ARGON2_PARALLELISM": _int(env, "ARGON2_PARALLELISM", 4),
        # Behind a load balancer: how many proxies set X-Forwarded-For (0 = trust none).
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        # Who may read /metricas (Prometheus): addresses or networks; empty = nobody.
        "METRICS_ALLOWED_ADDRESSES": _networks(env, "METRICS_ALLOWED_ADDRESSES",
                                               "127.0.0.1,::1"),
        "QUEUE_PAGE_SIZE": _int(env, "QUEUE_PAGE_SIZE", 20),
        # Hour (0–23, America/Bogota) of the scheduler's daily reminder pass.
        "REMINDER_HOUR": _int(env, "REMINDER_HOUR", 6),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        # Evidence uploads may exceed MAX_CONTENT_LENGTH: their route raises the limit to this.
        "EVIDENCE_MAX_BYTES": _int(env, "EVIDENCE_MAX_BYTES", 10 * 1024 * 1024),
        "EVIDENCE_QUOTA_BYTES_PER_SCHOOL": _int(env, "EVIDENCE_QUOTA_BYTES_PER_SCHOOL",
                                                500 * 1024 * 1024),
        # Outside the web root; blobs are stored under generated names only.
        "EVIDENCE_FOLDER": env.get("EVIDENCE_FOLDER",
                                   str(PROJECT_ROOT / "instance" / "evidencias")),
        # A Ruta without a state change for longer than this is "estancada" in the
        # consolidated view.
        "STALLED_DAYS": _int(env, "STALLED_DAYS", 30),
        # Evidence storage: "local" (EVIDENCE_FOLDER) or "s3" (an S3-compatible bucket;
        # credentials come from the environment, as boto3 reads them).
        "EVIDENCE_STORAGE": _choice(env, "EVIDENCE_STORAGE", ("local", "s3"), "local"),
        "S3_BUCKET": env.get("S3_BUCKET") or None,
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL") or None,
        "S3_REGION": env.get("S3_REGION") or None,
        "S3_PREFIX": env.get("S3_PREFIX", "evidencias/"),
        # Optional malware scanning of evidence uploads (workflow/evidencias/scanner.py):
        # clamd's socket, a Unix path or host:port. When it does not answer, uploads are
        # refused (503) unless CLAMD_UNREACHABLE=accept stores them unscanned.
        "CLAMD_SOCKET": (env.get("CLAMD_SOCKET") or "").strip() or None,
        "CLAMD_TIMEOUT_SECONDS": _int(env, "CLAMD_TIMEOUT_SECONDS", 30),
        "CLAMD_UNREACHABLE": _choice(env, "CLAMD_UNREACHABLE", ("refuse", "accept"), "refuse"),
        # Consolidated Excel files are written by ``ruta scheduler`` (never in a web worker)
        # into EXPORT_FOLDER (outside the web root), and deleted after EXPORT_RETENTION_DAYS.
        # The printable consolidado and its PDF list every school up to this many; above it,
        # only those that need attention (the full table is in the Excel).
        "PRINT_MAX_SCHOOLS": _int(env, "PRINT_MAX_SCHOOLS", 150),
        "EXPORT_FOLDER": env.get("EXPORT_FOLDER",
                                 str(PROJECT_ROOT / "instance" / "exportaciones")),
        "EXPORT_RETENTION_DAYS": _int(env, "EXPORT_RETENTION_DAYS", 7),
        # The daily pass empties the bodies of messages sent more than this many days ago
        # (workflow/correo/retention.py); who, when, subject and status stay.
        "OUTBOX_RETENTION_DAYS": _days(env, "OUTBOX_RETENTION_DAYS", 180),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not development,
        # In production the «__Host-» prefix: browsers accept the cookie only if it is
        # Secure, for the whole site (Path=/) and without a Domain, so no other host of the
        # domain can set or shadow it. (Plain HTTP in development cannot use it.)
        "SESSION_COOKIE_NAME": "ruta_sesion" if development else "__Host-ruta_sesion",
        # The token lives as long as the session: a form left open for hours still posts.
        # (Ended sessions are handled by ruta.resume, which keeps what was typed.)
        "WTF_CSRF_TIME_LIMIT": None,
        "TESTING": False,
    }
    return config


def weak_secret(secret: str) -> bool:
    """Short, the development key, or not random-looking: fewer than
    ``MIN_DISTINCT_CHARACTERS`` different characters or a short pattern repeated
    («0123456789» four times)."""
    if len(secret) < MIN_SECRET_LENGTH or secret == DEVELOPMENT_SECRET:
        return True
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return True
    return any(secret == (secret[:period] * (len(secret) // period + 1))[:len(secret)]
               for period in range(1, len(secret) // 2 + 1))


def check_production_safety(config: Mapping[str, Any]) -> None:
    """Refuse to run in production with a weak or missing secret key.

    ``TESTING`` does not relax this: a production app is checked the same way everywhere.
    """
    if config.get("RUTA_ENV") != "production":
        return
    secret = str(config.get("SECRET_KEY") or "")
    if not secret:
        raise ConfigError(
            "Falta SECRET_KEY. En producción defina una clave aleatoria de al menos "
            f"{MIN_SECRET_LENGTH} caracteres, por ejemplo con: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'. "
            "Para probar en un equipo local use RUTA_ENV=development (o «make run»).")
    if weak_secret(secret):
        raise ConfigError(
            f"SECRET_KEY es débil: en producción debe tener al menos {MIN_SECRET_LENGTH} "
            "caracteres aleatorios y no puede ser la clave de desarrollo.")
    for old in config.get("SECRET_KEY_FALLBACKS") or ():
        if weak_secret(old) or old == secret:
            raise ConfigError(
                "Una de las claves de SECRET_KEY_FALLBACKS es débil o repite SECRET_KEY: "
                "ahí van solo las claves anteriores, fuertes, mientras se rotan.")
    if config.get("EVIDENCE_STORAGE") == "s3" and not config.get("S3_BUCKET"):
        raise ConfigError(
            "EVIDENCE_STORAGE=s3 necesita S3_BUCKET: el nombre del bucket donde se guardan "
            "las evidencias (y, si no es AWS, S3_ENDPOINT_URL). Las credenciales se leen del "
            "entorno como lo hace boto3 (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). "
            "/ EVIDENCE_STORAGE=s3 requires S3_BUCKET.")
