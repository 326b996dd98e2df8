"""The house rules, checked with the tests and before them (tests/conftest.py puts this module first, so
.ci/run and README's test command check them before any other test): ruff's lint and format over the
whole tree, mypy over the whole package, the import contracts in pyproject.toml (cli above tui above
core, the engine's groups layered, core never imports textual or rich) and no import circles. A
missing tool fails here: it is in the test extra."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert exe, f"{name} is missing: pip install -e '.[test]'"
    return exe


def test_ruff_finds_nothing():
    r = subprocess.run(
        [tool("ruff"), "check", "charlm_tui", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_ruff_format_is_clean():
    r = subprocess.run(
        [tool("ruff"), "format", "--check", "charlm_tui", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, "run `ruff format charlm_tui tests benchmarks`\n" + r.stdout[-4000:] + r.stderr[-2000:]


def test_import_contracts_hold():
    r = subprocess.run([tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_mypy_passes_on_the_whole_package():
    r = subprocess.run([tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_no_module_imports_itself_round_a_circle():
    """import-linter has no contract for cycles: find strongly connected modules in the import graph
    (imports under TYPE_CHECKING left out: they never run)."""
    import grimp

    graph = grimp.build_graph("charlm_tui", exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & graph.modules for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    assert circles == [], circles
