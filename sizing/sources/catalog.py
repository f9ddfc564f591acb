"""The embedded model catalog (``sizing/data/models.yaml``): well-known models, usable offline.

Each entry stores the architecture fields of the model's own published ``config.json``
verbatim, with its Hugging Face URL and where the numbers were checked, and becomes a
``ModelArch`` through the same converter as a config fetched from the Hub
(``sizing.sources.config_json``). So the catalog cannot disagree with the Hub about how a
config is read, and every figure traces back to a public file.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sizing.core.tables import data_file, read_yaml, validate
from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.sources.config_json import arch_from_config

if TYPE_CHECKING:  # pragma: no cover
    from sizing.core.tables import DataPath

DEFAULT_PATH = data_file("models.yaml")

#: What a model is for, so pages can filter the catalog. ``chat``: instruction-tuned for
#: conversation; ``code``: trained or tuned for programming; ``reasoning``: writes a
#: thinking trace before answering; ``vision``: the checkpoint takes images. A base
#: (pretrained-only) checkpoint has none.
Task = Literal["chat", "code", "reasoning", "vision"]
TASKS: tuple[str, ...] = get_args(Task)

#: ModelArch fields an entry may override because llama.cpp's converter changes them;
#: each override must say why (``llama_cpp_note``).
_OVERRIDABLE = {"vocab_size"}


class PublishedParams(BaseModel):
    """A parameter count published for the checkpoint (safetensors total, model card)."""

    model_config = ConfigDict(extra="forbid")
    total: int = Field(gt=0)
    active: int | None = Field(None, gt=0, description="MoE: parameters used per token")
    active_excludes_embedding: bool = Field(
        False, description="the publisher's active count leaves out the token-embedding lookup"
    )
    excludes_nextn: bool = Field(
        False,
        description="the publisher's total leaves out the multi-token-prediction block(s) that "
        "llama.cpp's GGUF keeps (glm4moe)",
    )
    source: str = Field(min_length=1)


class CatalogEntry(BaseModel):
    """One model as stored in sizing/data/models.yaml."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", description="Hugging Face repo id")
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    tasks: list[Task] = Field(description="what the model is for; empty for a base checkpoint")
    source: str = Field(pattern=r"^https://huggingface\.co/.+/config\.json$")
    verified: str = Field(min_length=10, description="where the config values were checked")
    config: dict[str, Any]
    llama_cpp: dict[str, int] = Field(default_factory=dict)
    llama_cpp_note: str | None = None
    params: PublishedParams | None = None

    @field_validator("config")
    @classmethod
    def _has_model_type(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "model_type" not in v:
            raise ValueError("config must contain model_type")
        return v

    @field_validator("tasks")
    @classmethod
    def _tasks_once(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"a task is listed twice: {v}")
        return v

    @field_validator("llama_cpp")
    @classmethod
    def _known_overrides(cls, v: dict[str, int]) -> dict[str, int]:
        unknown = set(v) - _OVERRIDABLE
        if unknown:
            raise ValueError(f"cannot override {sorted(unknown)}; allowed: {sorted(_OVERRIDABLE)}")
        return v

    @model_validator(mode="after")
    def _source_is_this_repo(self) -> "CatalogEntry":
        expected = f"https://huggingface.co/{self.id}/blob/main/config.json"
        if self.source != expected:
            raise ValueError(f"source must be this repo's config.json, {expected}")
        if self.llama_cpp and not self.llama_cpp_note:
            raise ValueError("llama_cpp overrides need a llama_cpp_note saying why")
        return self

    def to_arch(self) -> ModelArch:
        arch = arch_from_config(
            self.config,
            repo_id=self.id,
            source=self.source,
            name=self.name,
            aliases=tuple(self.aliases),
        )
        if self.llama_cpp:
            arch = arch.model_copy(update=self.llama_cpp)
            arch = ModelArch.model_validate(arch.model_dump())
        return arch


class Catalog:
    """Models by repo id or alias (case-insensitive)."""

    def __init__(self, entries: list[CatalogEntry], path: DataPath = DEFAULT_PATH):
        self.path = path
        self.entries: dict[str, CatalogEntry] = {}
        self._archs: dict[str, ModelArch] = {}
        self._index: dict[str, str] = {}
        for i, entry in enumerate(entries):
            where = f"{self.path}: entry {i} ({entry.id})"
            try:
                arch = entry.to_arch()
            except SizingError as e:
                raise SizingError(f"{where}: {e}") from None
            for key in (entry.id, *entry.aliases):
                k = key.lower()
                if k in self._index:
                    raise SizingError(f"{where}: field aliases: {key!r} already names {self._index[k]}")
                self._index[k] = entry.id
            self.entries[entry.id] = entry
            self._archs[entry.id] = arch

    @property
    def models(self) -> list[ModelArch]:
        return list(self._archs.values())

    @property
    def ids(self) -> list[str]:
        return list(self._archs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._index

    def __len__(self) -> int:
        return len(self._archs)

    def tasks(self, name: str) -> tuple[str, ...]:
        """What the model named by an id or alias is for (see ``TASKS``)."""
        return tuple(self.entry(name).tasks)

    def ids_for(self, *tasks: str) -> list[str]:
        """Catalog ids tagged with every one of ``tasks`` (all ids when none is given)."""
        unknown = sorted(set(tasks) - set(TASKS))
        if unknown:
            raise SizingError(f"unknown task {unknown[0]!r}; known tasks: {', '.join(TASKS)}")
        return [i for i, e in self.entries.items() if set(tasks) <= set(e.tasks)]

    def find(self, name: str) -> ModelArch | None:
        """The model for an id or alias, or None."""
        key = self._index.get(name.strip().lower())
        return self._archs[key] if key else None

    def get(self, name: str) -> ModelArch:
        """The model for an id or alias; SizingError with the closest matches otherwise."""
        arch = self.find(name)
        if arch is None:
            raise SizingError(unknown_model_message(name, self.suggest(name)))
        return arch

    def entry(self, name: str) -> CatalogEntry:
        return self.entries[self.get(name).id]

    def suggest(self, name: str, n: int = 5) -> list[str]:
        """Catalog ids closest to ``name`` (ids and aliases both count; ids returned)."""
        q = name.strip().lower()
        if not q:
            return []
        scored: dict[str, float] = {}
        for key, model_id in self._index.items():
            short = key.rsplit("/", 1)[-1]
            score = max(
                difflib.SequenceMatcher(None, q, key).ratio(),
                difflib.SequenceMatcher(None, q.rsplit("/", 1)[-1], short).ratio(),
            )
            if q in key:
                score += 0.5
            if score > scored.get(model_id, 0.0):
                scored[model_id] = score
        ranked = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))
        return [m for m, s in ranked[:n] if s >= 0.3]


def unknown_model_message(name: str, matches: list[str]) -> str:
    closest = ", ".join(matches) if matches else "none (run `llm-sizing estimate --help`)"
    return f"unknown model {name!r}; closest catalog matches: {closest}"


def parse_catalog(path: DataPath) -> Catalog:
    """Read and validate a catalog file; any bad entry fails naming file, entry and field."""
    raw = read_yaml(path, "model catalog")
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise SizingError(f"{path}: expected a mapping with a 'models' list")
    entries = []
    for i, item in enumerate(raw["models"]):
        label = item.get("id", "?") if isinstance(item, dict) else "?"
        entries.append(validate(CatalogEntry, item, f"{path}: entry {i} ({label}):", default=None))
    return Catalog(entries, path)


@lru_cache(maxsize=4)
def load_catalog(path: str | None = None) -> Catalog:
    """The embedded catalog (cached; pass a path to load another file)."""
    return parse_catalog(path or DEFAULT_PATH)


def catalog_tasks(catalog: "Catalog") -> dict[str, tuple[str, ...]]:
    """Model id -> the tasks its catalog entry is tagged for (empty for a base checkpoint)."""
    return {mid: catalog.tasks(mid) for mid in catalog.entries}
