"""The one strict cattrs converter for tenant documents.

Nothing is coerced: an int field takes only an int (not a bool, a string or a float), a float
field an int or a float (not a bool), a str field a str, a bool field a bool; tuples come from
lists; unknown keys are refused.  A failure becomes a list of ``<problem> @ <path>`` lines
(``invalid value for type, expected int @ config.limits.max_concurrent_calls``) through
``cattrs.transform_error``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import AttributeValidationNote
from cattrs.gen import make_dict_structure_fn

from .errors import ConfigStructureError, InvalidField, StrictTypeError
from .models import TenantConfig

T = TypeVar("T")


def _int(value: object, _: object) -> int:
    if type(value) is not int:
        raise StrictTypeError("int")
    return value


def _float(value: object, _: object) -> float:
    if type(value) not in (int, float):
        raise StrictTypeError("float")
    number = float(value)  # type: ignore[arg-type]  # int or float, checked above
    if not math.isfinite(number):
        raise StrictTypeError("a finite number")
    return number


def _str(value: object, _: object) -> str:
    if type(value) is not str:
        raise StrictTypeError("str")
    return value


def _bool(value: object, _: object) -> bool:
    if type(value) is not bool:
        raise StrictTypeError("bool")
    return value


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_factory(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    structure_items = homogenous_tuple_structure_factory(type_, converter)

    def structure(value: object, cl: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise StrictTypeError("a list")
        return structure_items(value, cl)

    return structure


def _is_dict(type_: Any) -> bool:
    return get_origin(type_) is dict


def _dict_factory(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    key_type, value_type = get_args(type_)
    structure_key = converter.get_structure_hook(key_type)
    structure_value = converter.get_structure_hook(value_type)

    def structure(value: object, _: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise StrictTypeError("a mapping")
        return {
            structure_key(k, key_type): structure_value(v, value_type) for k, v in value.items()
        }

    return structure


def _attrs_factory(cl: type[Any], converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    structure_fields = make_dict_structure_fn(cl, converter)

    def structure(value: object, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise StrictTypeError("a mapping")
        try:
            return structure_fields(value, cl)
        except cattrs.ClassValidationError as group:
            _name_invalid_fields(group, cl)
            raise

    return structure


def _name_invalid_fields(group: cattrs.ClassValidationError, cl: type[Any]) -> None:
    """Attach the field's note to validator failures, so they are reported at the field."""
    fields = {a.name: a for a in attrs.fields(cl)}
    for exc in group.exceptions:
        notes = getattr(exc, "__notes__", [])
        if isinstance(exc, InvalidField) and not any(
            isinstance(note, AttributeValidationNote) for note in notes
        ):
            attribute = fields.get(exc.name)
            exc.add_note(
                AttributeValidationNote(
                    f"Validating class {cl.__qualname__} @ attribute {exc.name}",
                    exc.name,
                    attribute.type if attribute is not None else None,
                )
            )


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(int, _int)
    converter.register_structure_hook(float, _float)
    converter.register_structure_hook(str, _str)
    converter.register_structure_hook(bool, _bool)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_factory)
    converter.register_structure_hook_factory(_is_dict, _dict_factory)
    converter.register_structure_hook_factory(attrs.has, _attrs_factory)
    return converter


CONVERTER = _make_converter()
"""The strict converter; use ``structure`` rather than calling it directly."""


def describe(exc: BaseException, type_: Any) -> str:
    """Describe one failure, for ``cattrs.transform_error``."""
    if isinstance(exc, StrictTypeError):
        return f"invalid value for type, expected {exc.expected}"
    if isinstance(exc, InvalidField):
        return exc.problem
    return cattrs.v.format_exception(exc, type_)


def structure(raw: object, cl: type[T], *, path: str) -> T:
    """Structure ``raw`` into ``cl``; raise ConfigStructureError with paths under ``path``."""
    try:
        return CONVERTER.structure(raw, cl)
    except (cattrs.BaseValidationError, StrictTypeError, InvalidField) as exc:
        raise ConfigStructureError(
            cattrs.transform_error(exc, path=path, format_exception=describe)
        ) from exc


def structure_config(raw: object) -> TenantConfig:
    """Structure a tenant's config document; raise ConfigStructureError listing every problem."""
    return structure(raw, TenantConfig, path="config")
