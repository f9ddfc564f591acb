"""Which file a live check may run: caches, non-GGUF files, and web-mode path safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sizing.errors import SizingError
from sizing.live.check import locate_model, run_check
from sizing.live.models import find_local_gguf, ollama_names, require_gguf
from sizing.live.safety import is_allowed_path, require_allowed_path


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home directory: caches are looked up under it."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    for var in ("HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS", "LLM_SIZING_MODEL_DIRS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "data"))
    return h


def _link_or_copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dst)
    return dst


def test_found_in_the_hugging_face_cache(home, smollm2_gguf):
    # The hub cache keeps files as snapshot symlinks into blobs.
    snap = home / ".cache/huggingface/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct-GGUF/snapshots/abc123"
    _link_or_copy(smollm2_gguf, snap / smollm2_gguf.name)
    found = find_local_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert found is not None and found.name == smollm2_gguf.name
    assert find_local_gguf("smollm2-135m") == found  # a loose, case-insensitive name works too
    path, label = locate_model("SmolLM2-135M-Instruct.Q4_1")
    assert path == found


def test_found_in_ollama_by_tag(home, smollm2_gguf):
    models = home / ".ollama/models"
    blob = models / "blobs" / "sha256-0123abcd"
    _link_or_copy(smollm2_gguf, blob)
    manifest = models / "manifests/registry.ollama.ai/library/smollm2/135m"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "layers": [
                    {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:ffff"},
                    {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:0123abcd"},
                ]
            }
        )
    )
    assert ollama_names(models / "blobs") == {"smollm2:135m": blob}
    assert find_local_gguf("smollm2:135m") == blob


def test_found_in_lm_studio_and_configured_dirs(home, smollm2_gguf, tmp_path, monkeypatch):
    _link_or_copy(smollm2_gguf, home / ".lmstudio/models/lmstudio-community/smol/smol-q4.gguf")
    assert find_local_gguf("smol-q4.gguf").name == "smol-q4.gguf"
    mine = tmp_path / "my-models"
    _link_or_copy(smollm2_gguf, mine / "mine.gguf")
    monkeypatch.setenv("LLM_SIZING_MODEL_DIRS", str(mine))
    assert find_local_gguf("mine.gguf") == mine / "mine.gguf"


def test_not_found_locally_means_synthetic(home):
    path, label = locate_model("meta-llama/Llama-3.2-1B-Instruct")
    assert path is None and label == "meta-llama/Llama-3.2-1B-Instruct"


def test_a_file_that_is_not_gguf(tmp_path, home):
    bad = tmp_path / "model.gguf"
    bad.write_text("<html>404 Not Found</html>")
    with pytest.raises(SizingError, match="not a GGUF file"):
        require_gguf(bad)
    with pytest.raises(SizingError, match=r"model\.gguf: not a GGUF file"):
        run_check(str(bad), ctx=512, runner="embedded")
    with pytest.raises(SizingError, match="no such file"):
        run_check(str(tmp_path / "missing.gguf"), ctx=512, runner="embedded")


# ------------------------------------------------------------------------------ web mode


def test_allowed_paths_resolve_symlinks_and_dots(tmp_path, smollm2_gguf):
    allowed = tmp_path / "models"
    allowed.mkdir()
    inside = allowed / "a.gguf"
    inside.write_bytes(b"GGUF" + b"\0" * 28)
    secret = tmp_path / "secret.gguf"
    secret.write_bytes(b"GGUF" + b"\0" * 28)
    escape = allowed / "escape.gguf"
    os.symlink(secret, escape)

    assert is_allowed_path(inside, [allowed])
    assert is_allowed_path(str(allowed / "sub" / ".." / "a.gguf"), [allowed]) is False  # 'sub' is missing
    assert not is_allowed_path(allowed / ".." / "secret.gguf", [allowed])
    assert not is_allowed_path(escape, [allowed])  # a symlink pointing out is refused
    assert not is_allowed_path("/etc/passwd", [allowed])
    assert not is_allowed_path(allowed, [allowed])  # a directory is not a model file
    assert not is_allowed_path("a\0b", [allowed])
    assert not is_allowed_path(inside, [])


def test_web_mode_refuses_a_path_outside_the_allowed_dirs(tmp_path, home, smollm2_gguf):
    allowed = tmp_path / "models"
    allowed.mkdir()
    with pytest.raises(SizingError) as err:
        run_check(str(smollm2_gguf), ctx=512, runner="embedded", web_mode=True, allowed_dirs=[allowed])
    msg = str(err.value)
    assert "not a model file in the allowed model directories" in msg
    assert str(smollm2_gguf.parent) not in msg  # the server's layout is not echoed back
    with pytest.raises(SizingError, match="not a model file"):
        require_allowed_path("../../../../etc/passwd", [allowed])
    with pytest.raises(SizingError, match="no model directories"):
        require_allowed_path(str(smollm2_gguf), [])


def test_web_mode_never_writes_a_synthetic_model(tmp_path, home):
    allowed = tmp_path / "models"
    allowed.mkdir()
    with pytest.raises(SizingError, match="only files in the allowed model directories"):
        run_check("meta-llama/Llama-3.2-1B-Instruct", ctx=512, runner="embedded", web_mode=True, allowed_dirs=[allowed])
