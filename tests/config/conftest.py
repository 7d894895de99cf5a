"""Shared fixtures for the config tests: the example tenants file and inline YAML files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import config
from config.tenants_file import FileTenantSource

EXAMPLE_TENANTS = Path(config.__file__).parent / "examples" / "tenants.yaml"


@pytest.fixture
def example_source() -> FileTenantSource:
    return FileTenantSource.load(EXAMPLE_TENANTS)


@pytest.fixture
def tenants_file(tmp_path: Path) -> Callable[[str], FileTenantSource]:
    """Write YAML text to a tenants file under tmp_path and load it."""

    def load(text: str) -> FileTenantSource:
        path = tmp_path / "tenants.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return FileTenantSource.load(path)

    return load
