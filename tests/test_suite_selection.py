"""CI splits the suite between two Pythons by markers and test ids (``.ci/run``, the Makefile's
``test-other-python``): the second Python runs ``-m "not browser and not postgres"`` and
``-k "not postgresql"`` (``-k sqlite`` under CI) without ``TEST_DATABASE_URL``. A test that
asks for PostgreSQL itself, rather than through the ``backend`` legs (whose ids say
``postgresql``), must carry the ``postgres`` marker, or that run fails it
(``require_postgres`` fails under CI without the URL)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _calls_require_postgres(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id == "require_postgres" for node in ast.walk(tree))


def _marked_postgres(tree: ast.Module) -> bool:
    """``pytestmark = pytest.mark.postgres`` (alone or in a list) at the module's top."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "pytestmark"
                for target in node.targets):
            return "mark.postgres" in ast.unparse(node.value)
    return False


def unmarked_modules(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _calls_require_postgres(tree) and not _marked_postgres(tree):
            found.append(str(path.relative_to(root)))
    return found


def test_every_module_that_asks_for_postgresql_is_marked() -> None:
    assert unmarked_modules(TESTS) == []


def test_the_check_sees_an_unmarked_module(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "from tests.conftest import require_postgres\n"
        "def test_x():\n    require_postgres()\n", encoding="utf-8")
    (tmp_path / "test_marked.py").write_text(
        "import pytest\nfrom tests.conftest import require_postgres\n"
        "pytestmark = [pytest.mark.postgres]\n"
        "def test_x():\n    require_postgres()\n", encoding="utf-8")
    assert unmarked_modules(tmp_path) == ["test_plain.py"]
