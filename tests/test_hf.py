"""Hugging Face adapter against the real huggingface_hub: its own cache layout, offline
mode, and (for the online paths) a loopback server speaking the Hub's HTTP protocol,
since this machine has no network. No request leaves the machine."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub
import pytest

from sizing.errors import SizingError
from sizing.sources import hf

SMOL_CONFIG = {  # HuggingFaceTB/SmolLM2-135M config.json (architecture fields)
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "vocab_size": 49152,
    "max_position_embeddings": 8192,
    "tie_word_embeddings": True,
}


def make_hub_cache(root: Path, repo_id: str, files: dict[str, bytes], commit: str = "a" * 40) -> Path:
    """A hub cache exactly as huggingface_hub lays it out: blobs, refs/main, snapshots/<commit>."""
    repo_dir = root / ("models--" + repo_id.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    (repo_dir / "blobs").mkdir(exist_ok=True)
    for name, data in files.items():
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snap / name).symlink_to(Path("../../blobs") / blob.name)
    return root


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_config_from_the_cache_offline(hub_cache):
    make_hub_cache(hub_cache, "HuggingFaceTB/SmolLM2-135M", {"config.json": json.dumps(SMOL_CONFIG).encode()})
    m = hf.load_hf_model("HuggingFaceTB/SmolLM2-135M")
    assert m.arch.id == "HuggingFaceTB/SmolLM2-135M"
    assert (m.arch.n_layers, m.arch.n_kv_heads, m.arch.tied_embeddings) == (30, 3, True)
    assert m.config_path.startswith(str(hub_cache))
    assert m.params is None  # no safetensors summary cached


def test_offline_and_not_cached_says_so_and_suggests_catalog_ids(hub_cache):
    with pytest.raises(SizingError) as e:
        hf.load_hf_model("meta-llama/Llama-3.1-8B")
    msg = str(e.value)
    assert "offline" in msg and "not in the Hugging Face cache" in msg
    assert "meta-llama/Llama-3.1-8B-Instruct" in msg  # the catalog entry, usable offline


def test_explicit_offline_flag_beats_environment(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(SizingError, match="offline"):
        hf.fetch_config("org/not-cached", offline=True)


def test_bad_repo_id():
    with pytest.raises(SizingError, match="not a Hugging Face repo id"):
        hf.fetch_config("just-a-name", offline=True)


# --- online paths, against a loopback server that speaks the Hub's protocol ---------------


def _safetensors_bytes(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    header, offset = {}, 0
    sizes = {"BF16": 2, "F32": 4}
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"\0" * offset


class FakeHub(BaseHTTPRequestHandler):
    repos: dict[str, dict[str, bytes]] = {}
    gated: set[str] = set()
    commit = "b" * 40

    def log_message(self, *a):  # keep test output clean
        pass

    def _route(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        # /{org}/{name}/resolve/{revision}/{file}
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
            if repo in self.gated:
                return 401, {"X-Error-Code": "GatedRepo"}, b"gated"
            if repo not in self.repos:
                return 404, {"X-Error-Code": "RepoNotFound"}, b"no repo"
            data = self.repos[repo].get(filename)
            if data is None:
                return 404, {"X-Error-Code": "EntryNotFound"}, b"no entry"
            etag = hashlib.sha256(data).hexdigest()
            rng = self.headers.get("Range")
            if rng:
                start, end = rng.split("=")[1].split("-")
                data = data[int(start) : int(end) + 1]
                return 206, {"ETag": f'"{etag}"', "X-Repo-Commit": self.commit}, data
            return 200, {"ETag": f'"{etag}"', "X-Repo-Commit": self.commit}, data
        return 404, {"X-Error-Code": "RepoNotFound"}, b"?"

    def _send(self, body: bool):
        code, headers, data = self._route()
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):
        self._send(False)

    def do_GET(self):
        self._send(True)


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    FakeHub.repos = {
        "HuggingFaceTB/SmolLM2-135M": {
            "config.json": json.dumps(SMOL_CONFIG).encode(),
            "model.safetensors": _safetensors_bytes(
                {
                    "model.embed_tokens.weight": ("BF16", [4, 3]),
                    "model.norm.weight": ("F32", [3]),
                }
            ),
        },
        "org/gguf-only": {"README.md": b"hi"},
    }
    FakeHub.gated = {"meta-llama/Llama-3.1-8B"}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # huggingface_hub reads HF_HUB_OFFLINE once, at import: mirror an online environment
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield server
    server.shutdown()


def test_online_download_is_cached_and_then_works_offline(fake_hub, monkeypatch, tmp_path):
    m = hf.load_hf_model("HuggingFaceTB/SmolLM2-135M", offline=False)
    assert m.arch.hidden_size == 576
    assert m.params_by_dtype == {"BF16": 12, "F32": 3}
    assert m.params == 15
    fake_hub.shutdown()  # the Hub goes away; the cache must carry on
    again = hf.load_hf_model("HuggingFaceTB/SmolLM2-135M", offline=True)
    assert again.arch == m.arch and again.params == 15


def test_gated_repo_message(fake_hub):
    with pytest.raises(SizingError, match=r"meta-llama/Llama-3\.1-8B is a gated repo: accept its licence"):
        hf.fetch_config("meta-llama/Llama-3.1-8B", offline=False)


def test_missing_repo_message(fake_hub):
    with pytest.raises(SizingError, match="no such repo on Hugging Face"):
        hf.fetch_config("nobody/nothing-here", offline=False)


def test_repo_without_config_message(fake_hub):
    with pytest.raises(SizingError, match="has no config.json"):
        hf.fetch_config("org/gguf-only", offline=False)


def test_hub_config_and_catalog_entry_convert_the_same(hub_cache):
    """One converter: the catalog's stored config, served from a hub cache, gives the same model."""
    from sizing.sources.catalog import load_catalog

    entry = load_catalog().entries["Qwen/Qwen3-30B-A3B"]
    make_hub_cache(hub_cache, "Qwen/Qwen3-30B-A3B", {"config.json": json.dumps(entry.config).encode()})
    from_hub = hf.load_hf_model("Qwen/Qwen3-30B-A3B").arch
    from_catalog = entry.to_arch()
    skip = {"name", "aliases", "source"}
    assert from_hub.model_dump(exclude=skip) == from_catalog.model_dump(exclude=skip)
