"""``FileTenantSource``: tenants from a YAML file, held in memory.

The file lists tenants, each with its phone numbers and the documents MongoDB will hold later
(see ``config/examples/tenants.yaml``)::

    tenants:
      - id: acme-corp
        phone_numbers: ["+18005551212"]
        state: {greeting_id: greeting_main, instruction_id: inst_main}
        config: {schema_version: 1, ...}
        prompts:
          greetings: {greeting_main: "Hello ..."}
          instructions: {inst_main: "You are ..."}

Loading is lenient on purpose.  A tenant whose state, config or prompts are broken stays loaded
with its documents, so its calls fail at call time with the same error the same documents would
give from MongoDB.  Only a file that cannot be used at all raises ``TenantsFileError``.  Entries
that cannot be a tenant (no id, duplicate id) are skipped, numbers that cannot be routed (not a
phone number, claimed by two tenants) are not routed; each is listed in ``load_problems``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from attrs import frozen

from .errors import TenantsFileError
from .phone import DEFAULT_REGION, normalize_number
from .source import PromptKind

_TENANT_KEYS = frozenset({"id", "phone_numbers", "state", "config", "prompts"})
_PROMPT_SECTIONS: dict[str, PromptKind] = {"greetings": "greeting", "instructions": "instruction"}
_SHOWN_CHARS = 64


@frozen(kw_only=True)
class TenantDocuments:
    """One tenant's raw documents, as read from the file."""

    tenant_id: str
    state: Mapping[str, Any] | None
    config: Mapping[str, Any] | None
    prompts: Mapping[PromptKind, Mapping[str, object]]


@frozen(kw_only=True)
class FileTenantSource:
    """A TenantSource over a parsed tenants file.  Build with ``load`` or ``from_document``."""

    origin: str
    tenants: Mapping[str, TenantDocuments]
    routes: Mapping[str, str]  # E.164 number -> tenant id
    load_problems: tuple[str, ...] = ()
    #: The problems among ``load_problems`` that make a reload keep the tenants it would replace:
    #: a duplicate id (every entry of it skipped) or a number claimed twice (not routed), where
    #: the file as written would silently take tenants or numbers out of service.
    reload_blockers: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path | str, *, default_region: str = DEFAULT_REGION) -> FileTenantSource:
        """Read and parse the YAML file at ``path`` (blocking); TenantsFileError if unusable."""
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TenantsFileError([f"{origin}: cannot read the file ({exc.strerror})"]) from exc
        except UnicodeDecodeError as exc:
            raise TenantsFileError([f"{origin}: the file is not UTF-8 text"]) from exc
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            message = " ".join(str(exc).split())
            raise TenantsFileError([f"{origin}: not valid YAML: {message}"]) from exc
        return cls.from_document(document, origin=origin, default_region=default_region)

    @classmethod
    def from_document(
        cls, document: object, *, origin: str = "<memory>", default_region: str = DEFAULT_REGION
    ) -> FileTenantSource:
        """Build the source from an already parsed document (the file's top-level mapping)."""
        if not isinstance(document, Mapping) or not isinstance(document.get("tenants"), list):
            problem = f"{origin}: expected a mapping with a 'tenants' list at the top"
            raise TenantsFileError([problem])
        reader = _Reader(default_region)
        for key in document:
            if key != "tenants":
                reader.problem(f"unknown top-level key {_shown(key)} ignored")
        reader.read_tenants(document["tenants"])
        return cls(
            origin=origin,
            tenants=reader.tenants,
            routes=reader.routes(),
            load_problems=tuple(reader.problems),
            reload_blockers=tuple(reader.blockers),
        )

    async def route_number(self, number: str) -> str | None:
        """The tenant the E.164 ``number`` routes to, or None."""
        return self.routes.get(number)

    async def fetch_state(self, tenant_id: str) -> Mapping[str, Any] | None:
        """The tenant's state document, or None."""
        tenant = self.tenants.get(tenant_id)
        return None if tenant is None else tenant.state

    async def fetch_config(self, tenant_id: str) -> Mapping[str, Any] | None:
        """The tenant's config document, or None."""
        tenant = self.tenants.get(tenant_id)
        return None if tenant is None else tenant.config

    async def fetch_prompt(self, tenant_id: str, kind: PromptKind, prompt_id: str) -> str | None:
        """The prompt's text; ``""`` when it exists without a text; None when it is unknown."""
        tenant = self.tenants.get(tenant_id)
        if tenant is None or prompt_id not in tenant.prompts[kind]:
            return None
        text = tenant.prompts[kind][prompt_id]
        return text if isinstance(text, str) else ""

    async def list_tenants(self) -> Sequence[str]:
        """Tenant ids in file order."""
        return list(self.tenants)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _entry_id(entry: object) -> str | None:
    tenant_id = entry.get("id") if isinstance(entry, Mapping) else None
    return tenant_id if isinstance(tenant_id, str) and tenant_id.strip() else None


class _Reader:
    """Reads tenant entries, collecting the tenants, their number claims and the problems."""

    def __init__(self, default_region: str) -> None:
        self.default_region = default_region
        self.tenants: dict[str, TenantDocuments] = {}
        self.claims: dict[str, list[str]] = {}  # number -> tenant ids, in file order
        self.problems: list[str] = []
        self.blockers: list[str] = []

    def problem(self, line: str, *, blocks_reload: bool = False) -> None:
        self.problems.append(line)
        if blocks_reload:
            self.blockers.append(line)

    def read_tenants(self, entries: list[Any]) -> None:
        ids = [_entry_id(entry) for entry in entries]
        places: dict[str, list[int]] = {}
        for index, tenant_id in enumerate(ids):
            if tenant_id is not None:
                places.setdefault(tenant_id, []).append(index)
        for index, (entry, tenant_id) in enumerate(zip(entries, ids, strict=True)):
            if not isinstance(entry, Mapping):
                self.problem(f"tenants[{index}]: not a mapping; skipped")
            elif tenant_id is None:
                self.problem(f"tenants[{index}]: no string 'id'; skipped")
            elif len(places[tenant_id]) > 1:
                if index == places[tenant_id][0]:
                    where = ", ".join(f"tenants[{i}]" for i in places[tenant_id])
                    self.problem(f"{where}: duplicate id {tenant_id!r}; all of them skipped", blocks_reload=True)
            else:
                self.read_tenant(f"tenants[{index}] ({tenant_id})", tenant_id, entry)

    def read_tenant(self, where: str, tenant_id: str, entry: Mapping[str, Any]) -> None:
        for key in entry:
            if key not in _TENANT_KEYS:
                self.problem(f"{where}: unknown key {_shown(key)} ignored")
        for number in self.numbers(where, entry.get("phone_numbers", [])):
            claims = self.claims.setdefault(number, [])
            if tenant_id not in claims:
                claims.append(tenant_id)
        self.tenants[tenant_id] = TenantDocuments(
            tenant_id=tenant_id,
            state=self.document(where, "state", entry.get("state")),
            config=self.document(where, "config", entry.get("config")),
            prompts=self.prompts(where, entry.get("prompts")),
        )

    def numbers(self, where: str, raw: object) -> list[str]:
        if not isinstance(raw, list):
            self.problem(f"{where}: phone_numbers is not a list; no number routed")
            return []
        numbers = []
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                self.problem(
                    f"{where}: phone_numbers[{index}] is not a string (quote numbers in YAML); "
                    "not routed"
                )
                continue
            number = normalize_number(item, default_region=self.default_region)
            if number is None:
                self.problem(f"{where}: {_shown(item)} is not a phone number; not routed")
                continue
            numbers.append(number)
        return numbers

    def document(self, where: str, key: str, raw: object) -> Mapping[str, Any] | None:
        if raw is None or isinstance(raw, Mapping):
            return raw
        self.problem(
            f"{where}: {key} is not a mapping; it is served as an empty {key} document"
        )
        return {}

    def prompts(self, where: str, raw: object) -> dict[PromptKind, Mapping[str, object]]:
        prompts: dict[PromptKind, Mapping[str, object]] = {"greeting": {}, "instruction": {}}
        if raw is None:
            return prompts
        if not isinstance(raw, Mapping):
            self.problem(f"{where}: prompts is not a mapping; no prompt loaded")
            return prompts
        for key, section in raw.items():
            kind = _PROMPT_SECTIONS.get(key) if isinstance(key, str) else None
            if kind is None:
                self.problem(f"{where}: unknown key {_shown(key)} in prompts ignored")
            elif section is not None and not isinstance(section, Mapping):
                self.problem(f"{where}: prompts.{key} is not a mapping; none of them loaded")
            elif section is not None:
                prompts[kind] = self.prompt_texts(f"{where}: prompts.{key}", section)
        return prompts

    def prompt_texts(self, where: str, section: Mapping[Any, object]) -> dict[str, object]:
        texts: dict[str, object] = {}
        for prompt_id, text in section.items():
            if isinstance(prompt_id, str):
                texts[prompt_id] = text
            else:
                self.problem(f"{where}: prompt id {_shown(prompt_id)} is not a string; ignored")
        return texts

    def routes(self) -> dict[str, str]:
        routes: dict[str, str] = {}
        for number, tenant_ids in self.claims.items():
            if len(tenant_ids) == 1:
                routes[number] = tenant_ids[0]
            else:
                claimed = ", ".join(map(repr, tenant_ids))
                self.problem(f"{number} is claimed by tenants {claimed}; not routed", blocks_reload=True)
        return routes
