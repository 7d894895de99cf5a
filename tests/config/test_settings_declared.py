"""Each environment variable is declared once, as the Settings field it fills."""

from __future__ import annotations

from pathlib import Path

import attrs

from config.settings import SETTINGS, Settings, read_variables


def test_every_settings_field_is_one_declared_variable() -> None:
    """SETTINGS is the Settings fields in order, one variable per field, no name twice."""
    fields = attrs.fields(Settings)
    assert [declared.attribute for declared in SETTINGS] == [field.name for field in fields]
    assert len({declared.name for declared in SETTINGS}) == len(SETTINGS)


def test_direct_construction_takes_the_defaults_from_env_uses(tmp_path: Path) -> None:
    """Settings(...) with only the required values equals from_env of the same environment."""
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text("tenants: []\n")
    environ = {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_WEBHOOK_SECRET": "raw-secret",
        "CALLVISOR_TENANTS_FILE": str(tenants),
    }
    direct = Settings(openai_api_key="sk-test", webhook_secrets=(b"raw-secret",), tenants_file=tenants)
    assert direct == Settings.from_env(environ)


def test_read_variables_defaults_are_the_settings_defaults() -> None:
    """An unset variable read alone takes the default a directly built Settings has."""
    direct = Settings(openai_api_key="sk-test", webhook_secrets=(b"k",))
    optional = [declared for declared in SETTINGS if not declared.required]
    values = read_variables({}, [declared.name for declared in optional])
    assert values == {declared.name: getattr(direct, declared.attribute) for declared in optional}
