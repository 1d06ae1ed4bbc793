"""The codebase keeps the shape docs/architecture.md describes: checked, not hoped for."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "chronolens"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80  # code lines, the docstring not counted


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """chronolens modules imported anywhere in the file (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    # Imports under `if TYPE_CHECKING:` never run: type annotations only.
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for child in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return {m for m in found if m in known and m != name}


def test_no_import_cycles_counting_imports_inside_functions():
    known = modules()
    graph = {name: imports_of(path, name, set(known)) for name, path in known.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path):
    # The check above must be able to fail: a two-module cycle through a function-level import.
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from chronolens.b import g\n")
    b = tmp_path / "b.py"
    b.write_text("import chronolens.a\n")
    known = {"chronolens.a", "chronolens.b"}
    assert imports_of(a, "chronolens.a", known) == {"chronolens.b"}
    assert imports_of(b, "chronolens.b", known) == {"chronolens.a"}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p))
def test_files_and_functions_stay_small(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_FILE_LINES, f"{len(lines)} lines; split the concepts apart"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0]
            has_doc = isinstance(first, ast.Expr) and isinstance(
                getattr(first, "value", None), ast.Constant
            )
            start = first.end_lineno + 1 if has_doc else node.body[0].lineno
            code = node.end_lineno - start + 1
            assert code <= MAX_FUNCTION_LINES, f"{node.name}: {code} lines of code"


def documented_paths() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    return sorted(set(re.findall(r"`(src/chronolens/[\w/.]*)`", text)))


def test_architecture_map_names_real_packages_and_modules():
    paths = documented_paths()
    assert len(paths) >= 20, "docs/architecture.md should name the packages and key modules"
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


def test_every_package_is_on_the_map():
    documented = set(documented_paths())
    packages = sorted(
        str(p.parent.relative_to(ROOT)) + "/"
        for p in PACKAGE.rglob("__init__.py")
        if p.parent != PACKAGE
    )
    missing = [p for p in packages if p not in documented]
    assert not missing, f"packages missing from docs/architecture.md: {missing}"


def test_import_chronolens_imports_only_numpy_and_torch():
    code = (
        "import sys, chronolens as cl\n"
        "heavy = {'matplotlib', 'keras', 'tensorflow', 'jax', 'scipy', 'pandas', 'xarray',"
        " 'sklearn', 'aeon', 'captum'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "assert cl.metrics.deletion and cl.datasets.make_box and cl.zoo.fcn\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
