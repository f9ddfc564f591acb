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


def build(cls: type[M], **values: Any) -> M:
    """``cls.model_construct(**values)`` for callers that pass every field."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
