"""Deleting an element of the PMI, and undoing it.

Deleting is two steps in the interface: a page says exactly what goes (``what_goes``: «Se
eliminan el objetivo «…», 3 metas, 4 indicadores y 7 actividades») and only its «Sí,
eliminar» deletes. Before the rows go, the whole subtree is written as JSON to
``PmiDeletion``: the element, its children (an objetivo's metas, a meta's indicadores and
actividades) and its links (objetivo ↔ componentes and hallazgos, hallazgo ↔ componentes).
«Deshacer» (``undo``) puts every row back with its original primary key in one transaction
(explicit ids are valid on SQLite and PostgreSQL, and below PostgreSQL's sequences), so
snapshots, observations and labels that name ``objetivo:12`` find it again.

A delete is refused, with nothing changed, when rows outside the plan point at the subtree
(a seguimiento report's lines, a final evaluation's results): they could not be put back.
Found through the foreign keys of the schema, so this stage does not import later ones.
An undo is refused when it is too late (``UNDO_WINDOW``, or the plan was sent since), when
it was already undone, or when the plan changed so that the rows no longer fit (an id or a
componente taken again, the parent gone). Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum as PyEnum
from typing import Any

from sqlalchemy import Date, DateTime, Enum, Table, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from workflow.errors import NotEditable, NotFound
from workflow.models import Base, Ruta, User, utcnow
from workflow.pmi import plan as pmi
from workflow.pmi.models import (
    Actividad,
    Aplazamiento,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    Observation,
    PmiDeletion,
    PmiSnapshot,
    hallazgo_componentes,
    objetivo_componentes,
    objetivo_hallazgos,
)

# How long «Deshacer» is offered after a deletion (and never after the plan was sent).
UNDO_WINDOW = timedelta(minutes=30)

# Element tables in the order their rows are put back (parents first).
ELEMENT_TABLES: tuple[Table, ...] = (
    Objetivo.__table__, Hallazgo.__table__, Meta.__table__, Indicador.__table__,
    Actividad.__table__, Aplazamiento.__table__)
LINK_TABLES: tuple[Table, ...] = (objetivo_componentes, objetivo_hallazgos, hallazgo_componentes)
# What a row of a later stage that points at the plan is, in words.
DEPENDENT_LABELS = {
    "follow_up_lines": "avances de actividades en informes de seguimiento",
    "follow_up_indicator_values": "valores de indicadores en informes de seguimiento",
    "final_meta_results": "resultados de metas en la evaluación final",
    "final_indicator_results": "resultados de indicadores en la evaluación final",
}
# Spanish names with their article and plural, for «what goes».
NOUNS = {"objetivo": ("el objetivo", "objetivo", "objetivos"),
         "meta": ("la meta", "meta", "metas"),
         "indicador": ("el indicador", "indicador", "indicadores"),
         "actividad": ("la actividad", "actividad", "actividades"),
         "hallazgo": ("el hallazgo", "hallazgo", "hallazgos"),
         "aplazamiento": ("la oportunidad aplazada", "oportunidad aplazada",
                          "oportunidades aplazadas")}


# --- what goes ----------------------------------------------------------------------------


@dataclass
class Subtree:
    """The rows a deletion takes: element rows by table, link rows by table."""

    kind: str
    element_id: int
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    links: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def ids(self, table: Table) -> list[int]:
        return [row["id"] for row in self.rows.get(table.name, [])]

    def count(self, table: Table) -> int:
        return len(self.rows.get(table.name, []))


@dataclass(frozen=True)
class Preview:
    """What the confirmation page says: the element, what goes with it, what forbids it."""

    kind: str
    element_id: int
    label: str
    sentence: str
    blockers: list[str]
    observations: list[str]

    @property
    def allowed(self) -> bool:
        return not self.blockers


def _encode(value: Any) -> Any:
    if isinstance(value, PyEnum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _decode(table: Table, name: str, value: Any) -> Any:
    if value is None:
        return None
    column_type = table.c[name].type
    stored = getattr(column_type, "impl", column_type)  # a TypeDecorator wraps its storage
    if isinstance(stored, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(stored, Date):
        return date.fromisoformat(value)
    if isinstance(column_type, Enum) and column_type.enum_class is not None:
        return column_type.enum_class(value)
    return value


def _rows(session: Session, table: Table, condition: Any) -> list[dict[str, Any]]:
    order = [table.c.id] if "id" in table.c else list(table.primary_key.columns)
    return [{name: _encode(value) for name, value in row._mapping.items()}
            for row in session.execute(select(table).where(condition).order_by(*order))]


def subtree(session: Session, kind: str, element_id: int) -> Subtree:
    """Every row that deleting the element takes with it."""
    tree = Subtree(kind, element_id)
    objetivo_ids: list[int] = []
    meta_ids: list[int] = []
    if kind == "objetivo":
        objetivo_ids = [element_id]
        tree.rows["pmi_objetivos"] = _rows(session, Objetivo.__table__,
                                           Objetivo.id == element_id)
        tree.rows["pmi_metas"] = _rows(session, Meta.__table__,
                                       Meta.objetivo_id == element_id)
        meta_ids = [row["id"] for row in tree.rows["pmi_metas"]]
    elif kind == "meta":
        tree.rows["pmi_metas"] = _rows(session, Meta.__table__,
                                       Meta.id == element_id)
        meta_ids = [element_id]
    elif kind in ("indicador", "actividad", "hallazgo", "aplazamiento"):
        model = pmi.MODELS[kind]
        tree.rows[model.__table__.name] = _rows(session, model.__table__, model.id == element_id)
    if meta_ids:
        tree.rows["pmi_indicadores"] = _rows(session, Indicador.__table__,
                                             Indicador.meta_id.in_(meta_ids))
        tree.rows["pmi_actividades"] = _rows(session, Actividad.__table__,
                                             Actividad.meta_id.in_(meta_ids))
    if objetivo_ids:
        tree.links["pmi_objetivo_componentes"] = _rows(
            session, objetivo_componentes,
            objetivo_componentes.c.objetivo_id.in_(objetivo_ids))
        tree.links["pmi_objetivo_hallazgos"] = _rows(
            session, objetivo_hallazgos, objetivo_hallazgos.c.objetivo_id.in_(objetivo_ids))
    if kind == "hallazgo":
        tree.links["pmi_hallazgo_componentes"] = _rows(
            session, hallazgo_componentes, hallazgo_componentes.c.hallazgo_id == element_id)
        tree.links["pmi_objetivo_hallazgos"] = _rows(
            session, objetivo_hallazgos, objetivo_hallazgos.c.hallazgo_id == element_id)
    return tree


def _dependents(session: Session, tree: Subtree) -> list[str]:
    """Rows of later stages that point at the subtree, in words («2 avances de …»)."""
    ids_by_table = {table.name: tree.ids(table) for table in ELEMENT_TABLES}
    own = {table.name for table in (*ELEMENT_TABLES, *LINK_TABLES)}
    found = []
    for table in Base.metadata.sorted_tables:
        if table.name in own:
            continue
        conditions = [key.parent.in_(ids_by_table[key.column.table.name])
                      for key in table.foreign_keys
                      if ids_by_table.get(key.column.table.name)]
        if not conditions:
            continue
        count = session.scalar(select(func.count()).select_from(table).where(or_(*conditions)))
        if count:
            found.append(f"{count} {DEPENDENT_LABELS.get(table.name, table.name)}")
    return found


def _plural(count: int, kind: str) -> str:
    _, one, many = NOUNS[kind]
    return f"{count} {one if count == 1 else many}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " y " + items[-1]


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


def _describe(session: Session, ruta: Ruta, tree: Subtree) -> tuple[str, str]:
    """The element's label («Objetivo 2») and the sentence of what goes with it."""
    labels = pmi.element_labels(pmi.plan_content(session, ruta))
    key = f"{tree.kind}:{tree.element_id}"
    label = labels.get(key, pmi.KIND_LABELS[tree.kind])
    row = tree.rows[pmi.MODELS[tree.kind].__table__.name][0]
    text = row.get("enunciado") or row.get("descripcion") or row.get("nombre") \
        or row.get("razon") or ""
    named = f"{NOUNS[tree.kind][0]} «{label}: {_short(text)}»" if text else \
        f"{NOUNS[tree.kind][0]} «{label}»"
    parts = [named]
    if tree.kind == "objetivo":
        parts.append(_plural(tree.count(Meta.__table__), "meta"))
    if tree.kind in ("objetivo", "meta"):
        parts.append(_plural(tree.count(Indicador.__table__), "indicador"))
        parts.append(_plural(tree.count(Actividad.__table__), "actividad"))
    sentence = ("Se eliminan " if len(parts) > 1 else "Se elimina ") + _join(parts) + "."
    if tree.kind == "hallazgo":
        linked = [labels.get(f"objetivo:{link['objetivo_id']}", "un objetivo")
                  for link in tree.links.get("pmi_objetivo_hallazgos", [])]
        if linked:
            sentence += f" Deja de estar vinculado a {_join(linked)}."
    return label, sentence


def _observations_on(session: Session, ruta: Ruta, tree: Subtree) -> list[str]:
    keys = [f"{kind}:{row['id']}" for kind, model in pmi.MODELS.items()
            for row in tree.rows.get(model.__table__.name, [])]
    rows = session.scalars(select(Observation).where(
        Observation.ruta_id == ruta.id, Observation.element.in_(keys))
        .order_by(Observation.id)).all()
    return [f"{row.element_label}: {_short(row.text)} ({row.status.label.lower()})"
            for row in rows]


def preview(session: Session, ruta: Ruta, kind: str, element_id: int) -> Preview:
    """What deleting the element takes and whether it may go; ``NotFound`` when it is not
    this Ruta's."""
    pmi.get_element(session, ruta, kind, element_id)
    tree = subtree(session, kind, element_id)
    label, sentence = _describe(session, ruta, tree)
    return Preview(kind, element_id, label, sentence, _dependents(session, tree),
                   _observations_on(session, ruta, tree))


# --- deleting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Deleted:
    """What ``delete_element`` did: the kept record (for «Deshacer»); ``again`` when the
    element was already gone by that earlier deletion (a second «Sí, eliminar»)."""

    deletion: PmiDeletion
    again: bool = False


def delete_element(session: Session, ruta: Ruta, kind: str, element_id: int, *,
                   actor: User, now: datetime | None = None) -> Deleted:
    """Delete the element with everything that goes with it, keeping it all in
    ``PmiDeletion`` for ``undo``. Refused (``NotEditable``) when later records point at it.

    Posted twice (a double click on «Sí, eliminar»): the second finds the first deletion and
    deletes nothing. Flushes."""
    pmi.require_editable(session, ruta, actor)
    if kind not in pmi.MODELS:
        raise NotFound("No encontramos ese elemento del PMI.")
    if session.get(pmi.MODELS[kind], element_id) is None:
        earlier = session.scalars(select(PmiDeletion).where(
            PmiDeletion.ruta_id == ruta.id, PmiDeletion.kind == kind,
            PmiDeletion.element_id == element_id, PmiDeletion.restored_at.is_(None))
            .order_by(PmiDeletion.id.desc())).first()
        if earlier is not None:
            return Deleted(earlier, again=True)
    element = pmi.get_element(session, ruta, kind, element_id)
    tree = subtree(session, kind, element_id)
    blockers = _dependents(session, tree)
    label, sentence = _describe(session, ruta, tree)
    if blockers:
        raise NotEditable(f"No se puede eliminar {label}: la Ruta ya tiene registros que "
                          f"dependen de él ({_join(blockers)}). No se cambió nada.")
    deletion = PmiDeletion(ruta_id=ruta.id, kind=kind, element_id=element_id, label=label,
                           summary=sentence, payload={"rows": tree.rows, "links": tree.links},
                           deleted_by_id=actor.id, deleted_at=now or utcnow())
    session.add(deletion)
    session.delete(element)
    session.flush()
    return Deleted(deletion)


# --- undoing ------------------------------------------------------------------------------


def undoable(session: Session, ruta: Ruta, *, now: datetime | None = None) -> list[PmiDeletion]:
    """The deletions of this Ruta that «Deshacer» can still restore, newest first."""
    since = (now or utcnow()) - UNDO_WINDOW
    rows = session.scalars(select(PmiDeletion).where(
        PmiDeletion.ruta_id == ruta.id, PmiDeletion.restored_at.is_(None),
        PmiDeletion.deleted_at >= since).order_by(PmiDeletion.id.desc())).all()
    return [row for row in rows if not _sent_since(session, ruta, row)]


def _sent_since(session: Session, ruta: Ruta, deletion: PmiDeletion) -> bool:
    return bool(session.scalar(select(func.count()).select_from(PmiSnapshot).where(
        PmiSnapshot.ruta_id == ruta.id, PmiSnapshot.created_at > deletion.deleted_at)))


def _exists(session: Session, table: Table, ids: list[int]) -> bool:
    return bool(ids) and bool(session.scalar(
        select(func.count()).select_from(table).where(table.c.id.in_(ids))))


def undo(session: Session, ruta: Ruta, deletion_id: int, *, actor: User,
         now: datetime | None = None) -> PmiDeletion:
    """Put back everything the deletion took, with the same ids. Refused (``NotEditable``,
    nothing changed) when too late or when the plan no longer has room for it. Flushes."""
    pmi.require_editable(session, ruta, actor)
    now = now or utcnow()
    deletion = session.get(PmiDeletion, deletion_id)
    if deletion is None or deletion.ruta_id != ruta.id:
        raise NotFound("No encontramos esa eliminación.")
    what = deletion.label
    if deletion.restored_at is not None:
        raise NotEditable(f"{what} ya se había restaurado: está otra vez en el plan.")
    if deletion.deleted_at < now - UNDO_WINDOW:
        raise NotEditable(f"Ya no se puede deshacer la eliminación de {what}: se puede durante "
                          f"{int(UNDO_WINDOW.total_seconds() // 60)} minutos. Vuelva a "
                          "crearlo desde el plan.")
    if _sent_since(session, ruta, deletion):
        raise NotEditable(f"Ya no se puede deshacer la eliminación de {what}: el plan se envió "
                          "a la Secretaría después.")
    rows: dict[str, list[dict[str, Any]]] = deletion.payload.get("rows", {})
    links: dict[str, list[dict[str, Any]]] = deletion.payload.get("links", {})
    tables = {table.name: table for table in (*ELEMENT_TABLES, *LINK_TABLES)}
    for name, table_rows in rows.items():
        if _exists(session, tables[name], [row["id"] for row in table_rows]):
            raise NotEditable(f"No se puede deshacer la eliminación de {what}: el plan ya "
                              "tiene otro elemento con el mismo número interno. Vuelva a "
                              "crearlo desde el plan.")
    _check_parents(session, ruta, deletion, rows)
    for table in ELEMENT_TABLES:
        if rows.get(table.name):
            session.execute(insert(table), [
                {name: _decode(table, name, value) for name, value in row.items()}
                for row in rows[table.name]])
    for table in LINK_TABLES:
        kept = [row for row in links.get(table.name, []) if _partners_exist(session, row)]
        if kept:
            session.execute(insert(table), kept)
    deletion.restored_at, deletion.restored_by_id = now, actor.id
    session.flush()
    session.expire_all()
    return deletion


def _check_parents(session: Session, ruta: Ruta, deletion: PmiDeletion,
                   rows: dict[str, list[dict[str, Any]]]) -> None:
    restored = {name: {row["id"] for row in table_rows} for name, table_rows in rows.items()}
    meta_ids = {row["objetivo_id"] for row in rows.get("pmi_metas", [])} - restored.get(
        "pmi_objetivos", set())
    child_meta_ids = {row["meta_id"] for name in ("pmi_indicadores", "pmi_actividades")
                      for row in rows.get(name, [])} - restored.get("pmi_metas", set())
    for table, ids, noun in ((Objetivo.__table__, meta_ids, "el objetivo"),
                             (Meta.__table__, child_meta_ids, "la meta")):
        if ids and session.scalar(select(func.count()).select_from(table).where(
                table.c.id.in_(ids))) != len(ids):
            raise NotEditable(f"No se puede deshacer la eliminación de {deletion.label}: "
                              f"{noun} al que pertenecía ya no está en el plan.")
    for row in rows.get("pmi_aplazamientos", []):
        taken = session.scalar(select(func.count()).select_from(Aplazamiento).where(and_(
            Aplazamiento.ruta_id == ruta.id,
            Aplazamiento.componente_id == row["componente_id"])))
        if taken:
            raise NotEditable(f"No se puede deshacer la eliminación de {deletion.label}: esa "
                              "oportunidad ya está aplazada con otra razón.")


def _partners_exist(session: Session, link: dict[str, Any]) -> bool:
    """A link is put back only when the element at its other end is still there (a hallazgo
    deleted since stays deleted; the rest comes back)."""
    for name, table in (("objetivo_id", Objetivo.__table__),
                        ("hallazgo_id", Hallazgo.__table__)):
        if name in link and not _exists(session, table, [link[name]]):
            return False
    return True

