"""Build already-valid pydantic objects without re-validating them (the estimator's hot path).

A catalog sweep asks for tens of thousands of estimates; each holds ~15 small result
objects whose fields the estimator has just computed from validated inputs. Pydantic's
``model_construct`` still costs a few microseconds each (defaults, field-set bookkeeping);
this does the same with every field given explicitly. ``tests/test_memory.py`` checks that
objects built this way round-trip through full validation unchanged.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__

# Objects built with every field share one "fields set" per class: it already holds every
# field name, so pydantic's only in-place change to it (adding a field name on assignment)
# leaves it as it is, and model_copy copies it before changing it. Sharing it spares a
# sweep ~100k sets for the garbage collector to walk.
_ALL_FIELDS: dict[type, set[str]] = {}


def _all_fields(cls: type[BaseModel]) -> set[str] | None:
    shared = _ALL_FIELDS.get(cls)
    if shared is None:
        extra = cls.model_config.get("extra")
        shared = _ALL_FIELDS[cls] = set() if extra == "allow" else set(cls.model_fields)
    return shared or None


def build(cls: type[M], **values: Any) -> M:
    """``cls.model_construct(**values)`` for callers that pass every field."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    shared = _ALL_FIELDS.get(cls) or _all_fields(cls)
    _set(
        obj,
        "__pydantic_fields_set__",
        shared if shared and len(values) == len(shared) and shared.issuperset(values) else set(values),
    )
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
