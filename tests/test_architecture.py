"""The layout keeps its promises: imports run downward only, no cycles, no oversized modules.

Every import of every module of the project is read from its source (``ast``), including the
ones inside functions: an import hidden in a function is still a dependency. The layers, from
the bottom (see ``docs/arquitectura.md``):

1. the Ruta core: the top-level modules of ``workflow/`` (``states``, ``models``, ``services``…);
2. the stage packages of ``workflow/``, in ``STAGES`` order: each uses the core and the
   packages before it, never one after it;
3. ``demo``, which writes demo data through the services as a user would; and the web
   application's infrastructure in ``ruta`` (``ruta.db``, ``ruta.config``, ``ruta.mail``,
   ``ruta.security``…), which serves the layer above;
4. ``blueprints`` and ``jobs``, which use the domain and never each other;
5. the composition root: ``ruta``'s app factory registers the blueprints, its CLI runs the
   jobs and writes the demo.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from ruta.config import PROJECT_ROOT

PACKAGES = ("workflow", "demo", "blueprints", "jobs", "ruta")

#: The stage packages of ``workflow/``, bottom to top.
STAGES = (
    "catalogo",
    "evidencias",
    "horizontes",
    "cuentas",
    "autoevaluacion",
    "pmi",
    "seguimiento",
    "cierre",
    "ajustes",
    "correo",
    "consolidado",
)

#: The modules of ``ruta`` that compose the application: they alone may import blueprints
#: and jobs.
COMPOSITION_ROOT = ("ruta", "ruta.cli", "ruta.cli_export", "ruta.cli_backup", "ruta.commands")

#: Past this many lines a module must say in its docstring why it is kept whole.
MAX_LINES = 600
KEPT_WHOLE = "Kept whole"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()
#: Every module parsed once; the tests below only read the trees.
TREES = {module: ast.parse(path.read_text(encoding="utf-8")) for module, path in MODULES.items()}


def _resolve(name: str) -> str | None:
    """The project module ``name`` refers to (a name imported from a module is that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(TREES[module]):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = _resolve(name)
            # A package's own __init__ is not a dependency of its modules.
            if target and target != module and not module.startswith(target + "."):
                found.add(target)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def layer(module: str) -> tuple[int, int]:
    """(layer, rank within it) of a module; lower may be imported by higher."""
    parts = module.split(".")
    if parts[0] == "workflow":
        if len(parts) == 1 or (len(parts) == 2 and parts[1] not in STAGES):
            return (1, 0)
        return (2, STAGES.index(parts[1]))
    if parts[0] == "ruta":
        return (5, 0) if module in COMPOSITION_ROOT else (3, 1)
    return {"demo": (3, 0), "blueprints": (4, 0), "jobs": (4, 1)}[parts[0]]


def package(module: str) -> str:
    """``workflow`` for the core, ``workflow.<stage>`` for a stage, else the top package."""
    parts = module.split(".")
    if parts[0] == "workflow" and len(parts) > 1 and parts[1] in STAGES:
        return ".".join(parts[:2])
    return parts[0]


def _upward(module: str, target: str) -> bool:
    mine, theirs = layer(module), layer(target)
    if package(module) == package(target):
        return False  # within one package (or within the core): only cycles matter
    if mine[0] == 4 and theirs[0] == 4:
        return True  # blueprints and jobs never import each other
    return theirs > mine


def test_the_layers_cover_every_stage_package() -> None:
    packages = {path.name for path in (PROJECT_ROOT / "workflow").iterdir()
                if (path / "__init__.py").exists()}
    assert packages == set(STAGES)


def test_imports_run_downward_only() -> None:
    upward = sorted(f"{module} → {target}" for module, targets in GRAPH.items()
                    for target in targets if _upward(module, target))
    assert upward == []


def test_the_domain_imports_no_flask_and_no_demo() -> None:
    offending = []
    for module, tree in TREES.items():
        if not module.startswith("workflow"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            offending += [f"{module} → {name}" for name in names
                          if name.split(".")[0] in ("flask", "flask_login", "flask_wtf",
                                                    "werkzeug", "demo", "ruta")]
    assert offending == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    # The finder itself could fail silently: give it a known cycle.
    GRAPH["workflow.states"].add("workflow.services")
    try:
        assert ["workflow.services", "workflow.states"] in [
            [m for m in component if m in ("workflow.services", "workflow.states")]
            for component in _cycles()]
    finally:
        GRAPH["workflow.states"].discard("workflow.services")


@pytest.mark.parametrize(("module", "target", "upward"), [
    ("workflow.services", "workflow.pmi.actions", True),
    ("workflow.pmi.review", "workflow.seguimiento.models", True),
    ("workflow.seguimiento.reports", "workflow.pmi.plan", False),
    ("workflow.autoevaluacion.team", "workflow.cuentas.accounts", False),
    ("workflow.pmi.checks", "demo.pmi", True),
    ("blueprints.rutas", "jobs.daily", True),
    ("jobs.daily", "blueprints.rutas", True),
    ("ruta.db", "blueprints.rutas", True),
    ("ruta.security", "workflow.cuentas.accounts", False),
    ("workflow.cuentas.accounts", "ruta.db", True),
    ("demo.seed", "ruta.config", True),
    ("ruta", "blueprints.rutas", False),
    ("blueprints.rutas", "ruta.db", False),
])
def test_upward_is_what_the_layers_say(module: str, target: str, upward: bool) -> None:
    assert _upward(module, target) is upward


@cache
def _top_level_names(module: str) -> tuple[set[str], set[str]]:
    """(names ``module`` defines at its top level, names it imports from outside the project)."""
    defined: set[str] = set()
    foreign: set[str] = set()
    statements = list(TREES[module].body)
    while statements:
        node = statements.pop()
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(name.id for target in targets for name in ast.walk(target)
                           if isinstance(name, ast.Name))
        elif isinstance(node, ast.ImportFrom) and not node.level:
            if not _resolve(node.module or ""):
                foreign.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            statements += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
    return defined, foreign


def test_imports_name_the_module_that_defines_the_name() -> None:
    # No re-exports inside the project: a reader finds a name where its import says it is.
    # A module may pass on a library's name (``workflow.states`` wraps transitions' errors).
    misplaced = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module not in MODULES:
                continue
            defined, foreign = _top_level_names(node.module)
            misplaced += [f"{module}: {alias.name} from {node.module}" for alias in node.names
                          if f"{node.module}.{alias.name}" not in MODULES
                          and alias.name not in defined | foreign]
    assert misplaced == []


def test_every_table_lives_in_a_models_module() -> None:
    # One guess for a table: the core's in workflow/models.py, a package's in its models.py.
    elsewhere = []
    for module, tree in TREES.items():
        if not module.startswith("workflow") or module.rpartition(".")[2] == "models":
            continue
        for node in ast.walk(tree):
            declares = (isinstance(node, ast.ClassDef)
                        and any(isinstance(base, ast.Name) and base.id == "Base"
                                for base in node.bases)) or (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "Table")
            if declares:
                elsewhere.append(f"{module}:{node.lineno}")
    assert elsewhere == []


def test_modules_are_small_or_say_why_not() -> None:
    oversized = []
    for module, path in MODULES.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and KEPT_WHOLE not in (ast.get_docstring(TREES[module]) or ""):
            oversized.append(f"{module} ({lines} lines)")
    assert oversized == []
