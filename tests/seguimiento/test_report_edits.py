"""Saving a seguimiento report with its evidence files in one go, the report's version, and
deleting a draft observation: nothing half-saved, no blob without its row."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Factory
from tests.seguimiento.test_seguimiento import Plan, build_plan, form_for, opened
from workflow.errors import InvalidInput, NotEditable
from workflow.evidencias.models import EvidenceFile
from workflow.evidencias.storage import Limits, LocalStorage
from workflow.seguimiento import reports as seguimiento
from workflow.seguimiento.evidence import Upload, report_files, save_with_files
from workflow.seguimiento.models import FollowUpLine, FollowUpObservation, StaleReport

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LIMITS = Limits(max_bytes=10_000, quota_bytes=1_000_000)


@pytest.fixture
def plan(db: Session, make: Factory) -> Plan:
    return build_plan(make)


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "evidencias")


def blobs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "evidencias"
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def upload(name: str, content: bytes = PDF) -> Upload:
    return Upload(name, io.BytesIO(content))


def test_save_with_files_stores_values_and_files_together(
        db: Session, plan: Plan, store: LocalStorage, tmp_path: Path) -> None:
    report = opened(db, plan)
    added = save_with_files(db, store, report, form_for(plan), [upload("actas.pdf")],
                            actor=plan.rector, expected_version=report.version, limits=LIMITS)
    db.commit()
    assert [row.display_name for row in added] == ["actas.pdf"]
    assert [row.display_name for row in report_files(db, report)] == ["actas.pdf"]
    assert count(db, FollowUpLine) == 2
    assert len(blobs(tmp_path)) == 1


def test_save_with_files_bad_value_names_the_chosen_file_and_stores_nothing(
        db: Session, plan: Plan, store: LocalStorage, tmp_path: Path) -> None:
    report = opened(db, plan)
    form = form_for(plan, **{f"avance-{plan.first.id}": "150"})
    with pytest.raises(InvalidInput) as refused:
        save_with_files(db, store, report, form, [upload("actas.pdf")], actor=plan.rector,
                        expected_version=report.version, limits=LIMITS)
    db.rollback()
    assert "debe estar entre 0 y 100" in refused.value.errors[f"avance-{plan.first.id}"][0]
    assert refused.value.errors["archivo"] == [
        "No se adjuntó el archivo «actas.pdf» porque el informe no se guardó: corrija lo "
        "marcado y vuelva a elegir el archivo antes de guardar."]
    assert (count(db, FollowUpLine), count(db, EvidenceFile), blobs(tmp_path)) == (0, 0, [])


def test_save_with_files_refused_file_deletes_the_blobs_already_stored(
        db: Session, plan: Plan, store: LocalStorage, tmp_path: Path) -> None:
    report = opened(db, plan)
    with pytest.raises(InvalidInput) as refused:
        save_with_files(db, store, report, form_for(plan),
                        [upload("actas.pdf"), upload("virus.pdf", b"MZ\x90\x00")],
                        actor=plan.rector, expected_version=report.version, limits=LIMITS)
    db.rollback()
    message = refused.value.errors["archivo"][0]
    assert message.startswith("No se adjuntó «virus.pdf»: El contenido de «virus.pdf» no es")
    assert "Vuelva a elegir el archivo" in message
    assert (count(db, FollowUpLine), count(db, EvidenceFile), blobs(tmp_path)) == (0, 0, [])


def test_save_with_files_too_large_file_is_named(db: Session, plan: Plan,
                                                 store: LocalStorage, tmp_path: Path) -> None:
    report = opened(db, plan)
    with pytest.raises(InvalidInput) as refused:
        save_with_files(db, store, report, form_for(plan),
                        [upload("grande.pdf", PDF + b"0" * 20_000)], actor=plan.rector,
                        expected_version=report.version, limits=LIMITS)
    db.rollback()
    assert refused.value.errors["archivo"][0].startswith(
        "No se adjuntó «grande.pdf»: El archivo supera el límite")
    assert (count(db, FollowUpLine), blobs(tmp_path)) == (0, [])


def test_save_with_files_stale_version_writes_nothing(db: Session, plan: Plan,
                                                      store: LocalStorage,
                                                      tmp_path: Path) -> None:
    report = opened(db, plan)
    seguimiento.save_report(db, report, form_for(plan), actor=plan.equipo,
                            expected_version=1)
    db.commit()
    with pytest.raises(StaleReport):
        save_with_files(db, store, report, form_for(plan, dificultades="Otra cosa."),
                        [upload("actas.pdf")], actor=plan.rector, expected_version=1,
                        limits=LIMITS)
    db.rollback()
    assert (report.dificultades, count(db, EvidenceFile), blobs(tmp_path)) == (
        "Paro de dos semanas.", 0, [])


def test_delete_observation_needs_a_draft_and_returns_what_it_deleted(
        db: Session, plan: Plan) -> None:
    report = opened(db, plan)
    seguimiento.save_report(db, report, form_for(plan), actor=plan.rector,
                            expected_version=report.version)
    seguimiento.submit_report(db, report, actor=plan.rector, expected_version=report.version)
    row = seguimiento.add_observation(db, report, reviewer=plan.revisor,
                                      element=f"actividad:{plan.first.id}", text="Aclare.")
    db.commit()
    shown = seguimiento.observation_to_delete(db, report, row.id, reviewer=plan.revisor)
    assert shown.id == row.id and count(db, FollowUpObservation) == 1
    deleted = seguimiento.delete_observation(db, report, row.id, reviewer=plan.revisor)
    db.commit()
    assert (deleted.element, deleted.text) == (f"actividad:{plan.first.id}", "Aclare.")
    assert count(db, FollowUpObservation) == 0

    sent_row = seguimiento.add_observation(db, report, reviewer=plan.revisor,
                                           element="informe", text="Falta el acta.")
    seguimiento.return_report(db, report, reviewer=plan.revisor,
                              expected_version=report.version)
    db.commit()
    with pytest.raises(NotEditable):
        seguimiento.observation_to_delete(db, report, sent_row.id, reviewer=plan.revisor)
