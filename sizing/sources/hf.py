"""Hugging Face Hub adapter: a repo id → its ``config.json`` and safetensors parameter counts.

Everything goes through ``huggingface_hub`` and its own cache, so a repo fetched once works
offline afterwards (``HF_HUB_OFFLINE=1`` or ``offline=True``), and tests can build a cache
in a temporary folder. Hub failures become one ``SizingError`` line that says what to do:
accept a gated licence, check the name, go online, or use a catalog id.

Safetensors metadata is not kept by the hub cache (it is read with HTTP range requests),
so its summary (parameters per dtype) is stored next to it, under
``<hub cache>/llm-sizing/``, and read back offline.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sizing.env import hf_offline, web_mode
from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.sources.config_json import arch_from_config

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


class HFModel(BaseModel):
    """What the Hub tells us about a repo."""

    model_config = ConfigDict(frozen=True)

    arch: ModelArch
    config_path: str
    params_by_dtype: dict[str, int] | None = None  # safetensors totals, where known

    @property
    def params(self) -> int | None:
        return sum(self.params_by_dtype.values()) if self.params_by_dtype else None


def is_repo_id(spec: str) -> bool:
    """Is this shaped like ``org/name``?"""
    return bool(REPO_ID.match(spec)) and ".." not in spec


def check_repo_id(repo_id: str) -> None:
    """Refuse what the Hub itself would refuse (length over 96, bad characters), in one line."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        shown = repo_id if len(repo_id) <= 60 else repo_id[:60] + "…"
        raise SizingError(
            f"{shown!r} ({len(repo_id)} characters) is not a valid Hugging Face repo id: letters, digits, "
            "'-', '_' and '.', not starting or ending with '-' or '.', at most 96 characters"
        ) from None


def hub_cache_dir() -> Path:
    """The hub cache in use now (``HF_HUB_CACHE``, ``HF_HOME``, or the default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _endpoint() -> str | None:
    """``HF_ENDPOINT`` read now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT") or None


def is_offline(offline: bool | None = None) -> bool:
    if offline is not None:
        return offline
    return hf_offline()


def _suggestion(repo_id: str) -> str:
    from sizing.sources.catalog import load_catalog

    matches = load_catalog().suggest(repo_id, n=5)
    return "; catalog ids that work offline: " + ", ".join(matches) if matches else ""


def fetch_config(
    repo_id: str, *, offline: bool | None = None, revision: str | None = None
) -> tuple[dict[str, Any], str]:
    """The repo's ``config.json`` (parsed) and its local path, from the cache or the Hub."""
    import huggingface_hub as hub
    from huggingface_hub import errors

    if not is_repo_id(repo_id):
        raise SizingError(f"{repo_id!r} is not a Hugging Face repo id (expected org/name)")
    cache = hub_cache_dir()
    path: Any = None
    if is_offline(offline):
        path = hub.try_to_load_from_cache(repo_id, "config.json", cache_dir=cache, revision=revision)
        if not isinstance(path, str):
            where = "" if web_mode() else f" ({cache})"  # a visitor is not told where the server keeps it
            raise SizingError(
                f"{repo_id}: offline and its config.json is not in the Hugging Face cache{where}{_suggestion(repo_id)}"
            )
    else:
        unreachable = _unreachable(_endpoint())
        if unreachable is not None:
            path = _cached_or_unreachable(repo_id, cache, revision, unreachable)
            config = _read_config(repo_id, path)
            return config, str(path)
        try:
            with _quiet_hub():
                path = hub.hf_hub_download(
                    repo_id, "config.json", revision=revision, cache_dir=cache, endpoint=_endpoint()
                )
        except errors.GatedRepoError:
            raise SizingError(
                f"{repo_id} is a gated repo: accept its licence on https://huggingface.co/{repo_id} "
                f"and log in (`hf auth login` or HF_TOKEN){_suggestion(repo_id)}"
            ) from None
        except errors.RepositoryNotFoundError:
            raise SizingError(
                f"{repo_id}: no such repo on Hugging Face (or it is private){_suggestion(repo_id)}"
            ) from None
        except errors.RevisionNotFoundError:
            raise SizingError(f"{repo_id}: revision {revision!r} not found") from None
        except errors.LocalEntryNotFoundError as e:  # (an EntryNotFoundError: test it first)
            path = _cached_or_unreachable(repo_id, cache, revision, e)
        except errors.EntryNotFoundError:
            raise SizingError(
                f"{repo_id} has no config.json (a GGUF-only repo? pass the downloaded .gguf file)"
            ) from None
        except (errors.HfHubHTTPError, OSError) as e:
            path = _cached_or_unreachable(repo_id, cache, revision, e)
    return _read_config(repo_id, path), str(path)


def _read_config(repo_id: str, path: Any) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SizingError(f"{repo_id}: cached config.json {path} is unreadable ({e})") from None


def _unreachable(endpoint: str | None, timeout_s: float = 3.0) -> OSError | None:
    """Why the Hub cannot be reached, or None. One short TCP connect, tried first so that a
    machine without network answers in seconds: huggingface_hub itself retries for about
    25 s (and logs each retry). Skipped behind a proxy, where a direct connect proves nothing."""
    import socket
    from urllib.parse import urlsplit

    if any(
        os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
    ):
        return None
    from huggingface_hub import constants

    url = urlsplit(endpoint or constants.ENDPOINT)
    if not url.hostname:
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout_s).close()
    except OSError as e:
        return e
    return None


class _quiet_hub:
    """Silence huggingface_hub's per-retry warnings: the outcome is reported as one line."""

    def __enter__(self) -> None:
        import logging

        self.logger = logging.getLogger("huggingface_hub")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)


def _cached_or_unreachable(repo_id: str, cache: Path, revision: str | None, e: Exception) -> str:
    import huggingface_hub as hub

    path = hub.try_to_load_from_cache(repo_id, "config.json", cache_dir=cache, revision=revision)
    if not isinstance(path, str):
        why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise SizingError(
            f"{repo_id}: cannot reach Hugging Face ({why}) and its config.json is not cached "
            f"(use --offline or HF_HUB_OFFLINE=1 to skip the Hub){_suggestion(repo_id)}"
        ) from None
    return path


def _params_cache_file(repo_id: str) -> Path:
    return hub_cache_dir() / "llm-sizing" / ("models--" + repo_id.replace("/", "--") + ".safetensors.json")


def fetch_param_counts(repo_id: str, *, offline: bool | None = None) -> dict[str, int] | None:
    """Parameters per safetensors dtype (e.g. ``{"BF16": 8030261248}``), or None if unknown.

    Online, asks the Hub (``get_safetensors_metadata``) and stores the summary in the
    cache; offline, reads that summary back. A repo without safetensors gives None.
    """
    cached = _params_cache_file(repo_id)
    if cached.is_file():
        try:
            data = json.loads(cached.read_text())
            return {str(k): int(v) for k, v in data["parameter_count"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a broken summary is refetched below, or ignored offline
    if is_offline(offline):
        return None
    import huggingface_hub as hub
    from huggingface_hub import errors

    try:
        meta = hub.HfApi(endpoint=_endpoint()).get_safetensors_metadata(repo_id)
    except (errors.NotASafetensorsRepoError, errors.SafetensorsParsingError):
        return None
    except (errors.HfHubHTTPError, OSError):
        return None  # the config already came through; counts are a bonus
    counts = {str(k): int(v) for k, v in meta.parameter_count.items()}
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps({"repo_id": repo_id, "parameter_count": counts}))
    except OSError:
        pass
    return counts


def load_hf_model(repo_id: str, *, offline: bool | None = None, revision: str | None = None) -> HFModel:
    """A repo's architecture (through the shared converter) and its published parameter counts."""
    check_repo_id(repo_id)
    config, path = fetch_config(repo_id, offline=offline, revision=revision)
    arch = arch_from_config(config, repo_id=repo_id, source=f"https://huggingface.co/{repo_id}/blob/main/config.json")
    return HFModel(arch=arch, config_path=path, params_by_dtype=fetch_param_counts(repo_id, offline=offline))
