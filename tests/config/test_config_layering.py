"""The config package depends on nothing else of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import config


def test_config_imports_neither_actors_nor_supervisor() -> None:
    """No module under config/ imports actors or supervisor."""
    offenders = []
    for path in Path(config.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [
                f"{path.name}: {name}"
                for name in names
                if name.split(".")[0] in ("actors", "supervisor")
            ]
    assert offenders == []
