"""Reading the YAML data files shipped in ``sizing/data/`` (and user-given ones).

Every data file is hand-edited, so every loader must turn an unreadable file, bad YAML or
an invalid entry into one ``SizingError`` naming the file, the entry and the field. This
module is that one place, so the loaders (GPUs, CPUs, catalog, benchmarks, calibration,
overheads, prices, weights sources) word their errors alike and parse with the same
(C-accelerated, safe) YAML loader. The shipped tables are package data, found through
``importlib.resources`` so an installed wheel reads them as a checkout does.

This is the one module of the core that reads a file; the wall test allows it alone.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sizing.errors import SizingError

M = TypeVar("M", bound=BaseModel)

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster to parse


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, refusing a key given twice in one mapping: YAML keeps the last one
    silently, so a device or price pasted twice would quietly replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key_node.value!r} given twice in one mapping", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


if TYPE_CHECKING:
    from os import PathLike

    # A shipped table (``data_file(name)``) or a file a user or test names.
    DataPath = Traversable | PathLike[str] | str


def data_file(name: str) -> Traversable:
    """The shipped table ``sizing/data/<name>``, wherever the package is installed."""
    return files("sizing") / "data" / name


def read_yaml(path: DataPath, what: str = "data file") -> object:
    """Parse one data file; unreadable or invalid YAML is a SizingError naming the file."""
    try:
        if isinstance(path, Traversable):
            text = path.read_text(encoding="utf-8")
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        raise SizingError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader, C-accelerated
    except yaml.YAMLError as exc:
        raise SizingError(f"{path}: not valid YAML: {exc}") from None


def read_yaml_mapping(path: DataPath, what: str = "data file") -> dict[str, Any]:
    """Parse a data file whose top level is a mapping (an empty file is an empty one)."""
    raw = read_yaml(path, what)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SizingError(f"{path}: {what}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def field_error(exc: ValidationError, default: str | None = "(entry)") -> str:
    """``field a.b: message`` for pydantic's first error.

    An error on the entry as a whole (a model validator) has no field: it is named
    ``default``, or with ``default=None`` the message stands alone.
    """
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or default
    return f"field {field}: {err['msg']}" if field else err["msg"]


def validate(model: type[M], raw: object, where: str, *, default: str | None = "(entry)") -> M:
    """``model.model_validate(raw)``, or SizingError ``"{where} field …: …"``.

    ``where`` names file and entry and ends with its own separator, e.g.
    ``"data/x.yaml: entry 'a',"``.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise SizingError(f"{where} {field_error(exc, default)}") from None


def parse_entries(raw: object, key: str, model: type[M], path: DataPath) -> list[M]:
    """Validate a ``{key: [entries]}`` document whose entries carry unique ``id``s."""
    if not isinstance(raw, dict) or not isinstance(raw.get(key), list):
        raise SizingError(f"{path}: expected a mapping with a '{key}' list")
    out: list[M] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw[key]):
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        label = f"entry {entry_id!r}" if entry_id else f"entry #{i}"
        if not isinstance(entry, dict):
            raise SizingError(f"{path}: {label}: expected a mapping")
        item = validate(model, entry, f"{path}: {label}:")
        if str(entry_id) in seen:  # the model validated it: a string id
            raise SizingError(f"{path}: {label}: field id: duplicate id")
        seen.add(str(entry_id))
        out.append(item)
    return out
