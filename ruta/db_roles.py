"""Two PostgreSQL roles: an owner that runs the migrations, and the application's role.

The application's role (the user of ``DATABASE_URL``) gets only SELECT, INSERT, UPDATE and
DELETE on the tables and USAGE on the sequences. It owns nothing, so it cannot TRUNCATE,
ALTER or DROP a table, nor disable the triggers that keep the history append-only: a
compromised web process cannot rewrite the record. ``ruta init-db --owner ROLE
--owner-url URL`` does it all (README, «Dos roles en PostgreSQL»).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleSetupError(RuntimeError):
    """What the person running ``init-db --owner`` must fix, in Spanish."""


def _quoted(role: str) -> str:
    if not ROLE_NAME.match(role):
        raise RoleSetupError(f"«{role}» no es un nombre de rol válido: use minúsculas, "
                             "números y _ (por ejemplo ruta_owner).")
    return f'"{role}"'


def prepare_owner(connection: Connection, *, owner: str, app_role: str) -> None:
    """Before the migrations, on the owner connection (a superuser, or a role with CREATEROLE
    that is a member of ``owner``): the owner exists and may create in the schema; objects
    the application's role owns (an install made before the split) become the owner's; the
    rest of the transaction runs as the owner, so what the migrations create is its own."""
    owner_name, app_name = _quoted(owner), _quoted(app_role)
    if owner == app_role:
        raise RoleSetupError("El rol dueño debe ser distinto del rol de la aplicación "
                             "(el usuario de DATABASE_URL).")
    roles = {name: superuser for name, superuser in connection.execute(text(
        "SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN (:owner, :app)"),
        {"owner": owner, "app": app_role})}
    if app_role not in roles:
        raise RoleSetupError(f"No existe el rol de la aplicación «{app_role}» (el usuario de "
                             "DATABASE_URL): créelo primero con CREATE ROLE … LOGIN.")
    if roles[app_role]:
        raise RoleSetupError(f"El rol de la aplicación «{app_role}» es superusuario: así "
                             "puede hacerlo todo. Use un rol sin SUPERUSER en DATABASE_URL.")
    if owner not in roles:
        # NOLOGIN: nobody signs in as the owner; the migrations reach it through SET ROLE.
        connection.execute(text(f"CREATE ROLE {owner_name} NOLOGIN"))
    # Whoever owns the database (and so, since PostgreSQL 15, the schema) may drop the
    # schema with every table in it: that must not be the application's role.
    database_owner = connection.scalar(text(
        "SELECT r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
        "WHERE d.datname = current_database()"))
    if database_owner == app_role:
        database = connection.scalar(text("SELECT current_database()"))
        connection.execute(text(f'ALTER DATABASE "{database}" OWNER TO {owner_name}'))
    schema_owner = connection.scalar(text(
        "SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
        "WHERE n.nspname = 'public'"))
    if schema_owner == app_role:
        connection.execute(text(f"ALTER SCHEMA public OWNER TO {owner_name}"))
    connection.execute(text(f"GRANT USAGE, CREATE ON SCHEMA public TO {owner_name}"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {app_name}"))
    owned = connection.execute(text(
        "SELECT c.relname, c.relkind FROM pg_class c "
        "JOIN pg_roles r ON r.oid = c.relowner "
        "WHERE c.relnamespace = 'public'::regnamespace AND r.rolname = :app "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'S') ORDER BY c.relkind = 'S'"),
        {"app": app_role}).all()
    for name, kind in owned:
        what = "SEQUENCE" if kind == "S" else "TABLE"
        # A table's own sequences follow it: skip them if they changed owner already.
        still = connection.scalar(text(
            "SELECT r.rolname = :app FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relname = :name"),
            {"app": app_role, "name": name})
        if still:
            connection.execute(text(f'ALTER {what} "{name}" OWNER TO {owner_name}'))
    functions = connection.execute(text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner "
        "WHERE p.pronamespace = 'public'::regnamespace AND r.rolname = :app"),
        {"app": app_role}).scalars().all()
    for signature in functions:
        connection.execute(text(f"ALTER FUNCTION {signature} OWNER TO {owner_name}"))
    connection.execute(text(f"SET LOCAL ROLE {owner_name}"))


def grant_application(connection: Connection, *, owner: str, app_role: str) -> None:
    """After the migrations, still as the owner: the application's role may read and write
    rows (today's tables and those later migrations create), and nothing more."""
    owner_name, app_name = _quoted(owner), _quoted(app_role)
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {app_name}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app_name}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app_name}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_name} IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app_name}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_name} IN SCHEMA public "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {app_name}",
    ]
    for statement in statements:
        connection.execute(text(statement))
