"""The shape of the code an engineer inherits: no import circle, small modules, faces not imported back."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "actors", "supervisor", "bench")
#: "Past ~300 lines, split by noun" (STYLE.md); the registry of events is data, and may be longer.
MAX_LINES = 410

GRAPH = grimp.build_graph(*PACKAGES, include_external_packages=False)


def _cycles() -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), TYPE_CHECKING imports included."""
    found: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(GRAPH.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(GRAPH.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    """No import circle anywhere in the four packages (a circle is how a layer leaks)."""
    assert _cycles() == []


@pytest.mark.parametrize("package", ["supervisor.testing", "supervisor.cluster", "actors.log"])
def test_private_modules_never_import_their_package_face(package: str) -> None:
    """supervisor.testing, supervisor.cluster and actors.log: the __init__ re-exports, nothing imports it back."""
    private = sorted(m for m in GRAPH.find_children(package) if m.rpartition(".")[2].startswith("_"))
    assert private
    offenders = [m for m in private if package in GRAPH.find_modules_directly_imported_by(m)]
    assert offenders == []


def test_modules_stay_small() -> None:
    """Every module of config, actors and supervisor is under ~400 lines (split by noun past that)."""
    long = {
        str(path.relative_to(ROOT)): n
        for package in ("config", "actors", "supervisor")
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
