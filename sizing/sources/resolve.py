"""Turn whatever the user typed for "model" into an architecture, most exact source first.

Order: a GGUF file (exact tensor types and sizes), a remote GGUF read from its header
alone (``hf://owner/repo/file.gguf``, ``owner/repo:QUANT``, an ``https://`` URL), a
``config.json`` or model folder, a catalog id or alias (offline, curated), then anything
shaped like ``org/name`` on the Hugging Face Hub. Anything else is "unknown model" with the closest catalog ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.core.tensors import TensorSpec

ModelKind = Literal["catalog", "hf", "gguf", "config"]


class ResolvedModel(BaseModel):
    """An architecture plus, when the source has them, the exact tensors and file type."""

    model_config = ConfigDict(frozen=True)

    arch: ModelArch
    tensors: tuple[TensorSpec, ...] | None = None
    kind: ModelKind
    file_type: str | None = None
    #: parameter count published with the checkpoint (HF safetensors metadata), if known
    published_params: int | None = None


#: longer than any path or repo id; a longer "name" is refused before it is echoed or matched
MAX_SPEC_CHARS = 1024


def resolve_model(spec: str, *, offline: bool | None = None) -> ResolvedModel:
    """Resolve a catalog id/alias, HF repo id, GGUF path or config.json/folder path."""
    if not isinstance(spec, str) or not spec.strip():
        raise SizingError("no model given: pass a catalog id, a Hugging Face repo id, a .gguf or a config.json")
    s = spec.strip()
    if len(s) > MAX_SPEC_CHARS:
        raise SizingError(f"model name too long ({len(s):,} characters, at most {MAX_SPEC_CHARS}): {s[:60]!r}…")
    path = Path(s).expanduser()
    try:
        is_file, is_dir, exists = path.is_file(), path.is_dir(), path.exists()
    except OSError:  # not a usable path (too long a component, …): treat it as a name
        is_file = is_dir = exists = False

    from sizing.sources.remote_gguf import is_remote_spec

    if not exists and is_remote_spec(s):
        from sizing.sources.remote_gguf import load_remote_gguf

        g = load_remote_gguf(s).model
        return ResolvedModel(arch=g.arch, tensors=tuple(g.tensors), kind="gguf", file_type=g.file_type)

    if s.lower().endswith(".gguf"):
        if not is_file:
            raise SizingError(f"{s}: not a regular file" if exists else f"{s}: no such GGUF file")
        from sizing.sources.gguf_reader import read_gguf  # imported lazily: only files need it

        g = read_gguf(path)
        return ResolvedModel(arch=g.arch, tensors=tuple(g.tensors), kind="gguf", file_type=g.file_type)

    if is_dir or (is_file and path.suffix.lower() == ".json"):
        from sizing.sources.config_json import arch_from_path

        return ResolvedModel(arch=arch_from_path(path), kind="config")
    if is_file:
        raise SizingError(f"{s}: not a .gguf file or a config.json")
    if exists:  # a device, a pipe, a socket: never opened (reading one could block)
        raise SizingError(f"{s}: not a regular file or folder")
    if s.lower().endswith(".json"):
        raise SizingError(f"{s}: no such file")
    from sizing.sources.hf import is_repo_id

    try:
        return resolve_name(s, offline=offline)
    except SizingError as exc:
        if ("/" in s or "\\" in s) and not is_repo_id(s):  # meant as a path, most likely
            raise SizingError(f"{s}: no such file or folder; {exc}") from None
        raise


def resolve_name(spec: str, *, offline: bool | None = None) -> ResolvedModel:
    """Resolve a catalog id/alias or a Hugging Face repo id, never touching a local path.

    What a web visitor types goes here: the name is matched against the catalog and the
    Hub, so ``Makefile`` or ``sizing/models`` is an unknown model, not a file that exists.
    """
    from sizing.sources.catalog import load_catalog, unknown_model_message
    from sizing.sources.remote_gguf import is_remote_spec

    if not isinstance(spec, str) or not spec.strip():
        raise SizingError("no model given: pass a catalog id or a Hugging Face repo id")
    s = spec.strip()
    if len(s) > MAX_SPEC_CHARS:
        raise SizingError(f"model name too long ({len(s):,} characters, at most {MAX_SPEC_CHARS}): {s[:60]!r}…")
    if is_remote_spec(s):  # a published GGUF (hf://, owner/repo:QUANT, https://): its header, read remotely
        from sizing.sources.remote_gguf import load_remote_gguf

        g = load_remote_gguf(s).model
        return ResolvedModel(arch=g.arch, tensors=tuple(g.tensors), kind="gguf", file_type=g.file_type)
    catalog = load_catalog()
    arch = catalog.find(s)
    if arch is not None:
        return ResolvedModel(arch=arch, kind="catalog")

    from sizing.sources.hf import is_repo_id, load_hf_model

    if is_repo_id(s):
        m = load_hf_model(s, offline=offline)
        return ResolvedModel(arch=m.arch, kind="hf", published_params=m.params)

    raise SizingError(unknown_model_message(s, catalog.suggest(s)))
