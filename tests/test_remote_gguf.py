"""A published GGUF sized from its header alone, over HTTP range requests.

A loopback server (tests/remote_server.py) serves the real packaged GGUFs (SmolLM2,
Gemma-3), synthetic headers of big models over sparse holes, split models, and every way
a server can fail. Each result is checked against the local reader on the same file."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import gguf
import huggingface_hub.constants
import numpy as np
import pytest

from remote_server import Files, serve
from sizing.errors import SizingError
from sizing.sources import remote_gguf as rg
from sizing.sources.gguf_reader import read_gguf, read_gguf_header

MiB = 1024 * 1024


@pytest.fixture
def env(tmp_path, monkeypatch):
    files = Files()
    server = serve(files)
    base = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HF_ENDPOINT", base)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield files, base, tmp_path
    server.shutdown()


def _ref(base: str, path: str) -> rg.RemoteRef:
    return rg.RemoteRef(url=f"{base}/{path}", label=path)


def _same(remote: rg.RemoteGGUF, local_path) -> None:
    local = read_gguf(local_path)
    assert remote.model.arch.model_dump(exclude={"id", "source", "name"}) == local.arch.model_dump(
        exclude={"id", "source", "name"}
    )
    assert remote.model.tensors == local.tensors
    assert (remote.model.file_type, remote.model.file_size, remote.model.data_offset) == (
        local.file_type,
        local.file_size,
        local.data_offset,
    )


# --- real files ----------------------------------------------------------------------------


def test_real_smollm2_over_range_requests_reads_only_the_header(env, smollm2_gguf):
    files, base, _ = env
    files.add("f/smol.gguf", smollm2_gguf)
    r = rg.read_remote_gguf(_ref(base, "f/smol.gguf"))
    _same(r, smollm2_gguf)
    header = r.model.data_offset
    assert files.sent == r.bytes_read
    assert header <= files.sent < 1.6 * header + rg.FIRST_READ  # the header, never the data
    assert all(start < header for start, _ in files.ranges)


def test_real_gemma3_big_vocabulary(env, gemma3_gguf):
    files, base, _ = env
    files.add("f/gemma.gguf", gemma3_gguf)
    r = rg.read_remote_gguf(_ref(base, "f/gemma.gguf"))
    _same(r, gemma3_gguf)
    assert r.model.arch.sliding_window  # the per-layer pattern came through
    assert files.sent < r.model.file_size / 20


def test_repeated_read_comes_from_the_cache_and_works_offline(env, smollm2_gguf, monkeypatch):
    files, base, _ = env
    files.add("f/smol.gguf", smollm2_gguf)
    first = rg.read_remote_gguf(_ref(base, "f/smol.gguf"))
    files.reset()
    again = rg.read_remote_gguf(_ref(base, "f/smol.gguf"))
    assert files.sent == 0 and again.cached and again.model == first.model
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert rg.read_remote_gguf(_ref(base, "f/smol.gguf")).model == first.model
    with pytest.raises(SizingError, match="offline and its header is not cached"):
        rg.read_remote_gguf(_ref(base, "f/other.gguf"))


def test_cache_is_bounded(env, smollm2_gguf, gemma3_gguf, monkeypatch):
    files, base, tmp = env
    files.add("f/a.gguf", smollm2_gguf)
    files.add("f/b.gguf", gemma3_gguf)
    monkeypatch.setattr(rg, "CACHE_MAX_BYTES", 3 * MiB)
    rg.read_remote_gguf(_ref(base, "f/a.gguf"))
    rg.read_remote_gguf(_ref(base, "f/b.gguf"))  # ~6 MB of header: the older entry goes
    cache = tmp / "hub" / "llm-sizing" / "gguf-headers"
    assert sum(p.stat().st_size for p in cache.glob("*.bin")) <= 3 * MiB + 8 * MiB
    assert len(list(cache.glob("*.bin"))) == 1
    files.reset()
    rg.read_remote_gguf(_ref(base, "f/a.gguf"))
    assert files.sent > 0  # evicted, so read again


def test_redirect_is_followed(env, smollm2_gguf):
    files, base, _ = env
    files.add("f/smol.gguf", smollm2_gguf)
    r = rg.read_remote_gguf(_ref(base, "redirect/f/smol.gguf"))
    _same(r, smollm2_gguf)


# --- a ~100 GB model: the tokenizer lists are stepped over ----------------------------------


@pytest.fixture(scope="module")
def big_gguf(tmp_path_factory):
    from sizing.live.synthetic import write_synthetic_gguf
    from sizing.sources.catalog import load_catalog

    arch = load_catalog().get("Qwen/Qwen3-235B-A22B")
    return write_synthetic_gguf(arch, "Q3_K_M", tmp_path_factory.mktemp("big") / "qwen3-235b-Q3_K_M.gguf")


def test_hundred_gb_model_costs_under_2_mib(env, big_gguf):
    files, base, _ = env
    files.add("f/big.gguf", big_gguf)
    r = rg.read_remote_gguf(_ref(base, "f/big.gguf"))
    assert r.model.file_size > 100e9
    _same(r, big_gguf)
    assert files.sent < 2 * MiB < r.model.data_offset  # less than the header itself
    meta, _, _, _ = read_gguf_header(big_gguf)
    # what was stepped over is the tokenizer, and it is said so: nothing else is missing
    missing = set(meta) - set(r.model.metadata)
    assert missing and all(k.startswith("tokenizer.ggml.") for k in missing)
    assert r.model.metadata["tokenizer.ggml.tokens"].length == meta["tokenizer.ggml.tokens"].length


def test_a_table_that_does_not_check_out_falls_back_to_the_whole_header(env, big_gguf, tmp_path):
    files, base, _ = env
    meta, tensors, off, size = read_gguf_header(big_gguf)
    with open(big_gguf, "rb") as f:
        raw = bytearray(f.read(off))
    name = tensors[len(tensors) // 2].name.encode()
    at = raw.rfind(name)
    raw[at : at + len(name)] = b"#" * len(name)  # an entry in the middle no longer parses
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(raw))
    with open(bad, "r+b") as f:
        f.truncate(size)
    files.add("f/bad.gguf", bad)
    r = rg.read_remote_header(_ref(base, "f/bad.gguf"))
    assert files.sent >= off  # the table did not check out: the whole header was read instead
    assert r.skipped_entries == 0
    _, local_tensors, local_off, _ = read_gguf_header(bad)
    assert r.tensors == local_tensors and r.data_offset == local_off


# --- split models --------------------------------------------------------------------------


def _write_split(dirpath, parts: int = 3):
    """A tiny llama written by gguf's own writer, split the way convert/gguf-split name parts."""
    w = gguf.GGUFWriter(dirpath / "tiny.gguf", "llama", split_max_tensors=4)
    w.add_name("tiny split")
    w.add_block_count(2)
    w.add_context_length(256)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.standard_normal((300, 64), dtype=np.float32))
    for i in range(2):
        for n, shape in (
            ("attn_norm", (64,)),
            ("attn_q", (64, 64)),
            ("attn_k", (32, 64)),
            ("attn_v", (32, 64)),
            ("attn_output", (64, 64)),
            ("ffn_norm", (64,)),
            ("ffn_gate", (128, 64)),
            ("ffn_up", (128, 64)),
            ("ffn_down", (64, 128)),
        ):
            w.add_tensor(f"blk.{i}.{n}.weight", rng.standard_normal(shape, dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    w.add_tensor("output.weight", rng.standard_normal((300, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sorted(dirpath.glob("tiny-*-of-*.gguf"))


def test_split_model_parts_are_read_and_summed(env, tmp_path):
    files, base, _ = env
    parts = _write_split(tmp_path)
    assert len(parts) > 2
    for p in parts:
        files.add(f"s/{p.name}", p)
    r = rg.read_remote_gguf(_ref(base, f"s/{parts[0].name}"))
    assert r.parts == len(parts)
    assert r.model.file_size == sum(p.stat().st_size for p in parts)
    _same(r, parts[0])
    later = rg.read_remote_gguf(_ref(base, f"s/{parts[1].name}"))  # any part names the model
    assert later.model.tensors == r.model.tensors
    for p in parts[:-1]:  # the same model with its last part missing
        files.add(f"s2/{p.name}", p)
    with pytest.raises(SizingError, match=rf"{parts[-1].name}: .*\(HTTP 404\)"):
        rg.read_remote_gguf(_ref(base, f"s2/{parts[0].name}"))


# --- names: hf://, owner/repo:QUANT, https URLs, repo listings ------------------------------


@pytest.fixture
def hub_repo(env, smollm2_gguf, tmp_path):
    files, base, _ = env
    repo = "someone/SmolLM2-GGUF"
    files.add(f"{repo}/resolve/main/SmolLM2-135M-Instruct-Q4_1.gguf", smollm2_gguf)
    files.add(f"{repo}/resolve/main/mmproj-SmolLM2-F16.gguf", smollm2_gguf)
    parts = _write_split(tmp_path)
    for p in parts:
        files.add(f"{repo}/resolve/main/F32/{p.name.replace('tiny', 'SmolLM2-135M-Instruct-F32')}", p)
    return repo, files, base, parts


def test_repo_listing_offers_its_quants(hub_repo):
    repo, _, _, parts = hub_repo
    listed = {g.quant: g for g in rg.list_repo_ggufs(repo)}
    assert set(listed) == {"Q4_1", "F32"}  # the projector is not a model; parts are one model
    assert listed["F32"].parts == len(parts)
    assert listed["F32"].size == sum(p.stat().st_size for p in parts)


@pytest.mark.parametrize(
    "spec",
    [
        "someone/SmolLM2-GGUF:Q4_1",
        "someone/SmolLM2-GGUF:q4_1",
        "hf.co/someone/SmolLM2-GGUF:Q4_1",
        "hf://someone/SmolLM2-GGUF/SmolLM2-135M-Instruct-Q4_1.gguf",
    ],
)
def test_names_resolve_to_the_file(hub_repo, smollm2_gguf, spec):
    r = rg.load_remote_gguf(spec)
    _same(r, smollm2_gguf)
    assert r.model.arch.id == "someone/SmolLM2-GGUF/SmolLM2-135M-Instruct-Q4_1"


def test_https_url_and_resolve(hub_repo, smollm2_gguf):
    from sizing.sources.resolve import resolve_model

    repo, _, base, _ = hub_repo
    url = f"{base}/{repo}/resolve/main/SmolLM2-135M-Instruct-Q4_1.gguf"
    assert rg.parse_spec(url).repo == repo  # a Hub URL keeps its repo and file
    m = resolve_model(f"{repo}:Q4_1")
    assert m.kind == "gguf" and m.file_type == "Q4_1"
    assert m.tensors == read_gguf(smollm2_gguf).tensors


@pytest.mark.parametrize(
    "spec, message",
    [
        ("someone/SmolLM2-GGUF:Q9_K", "no Q9_K GGUF; it has F32, Q4_1"),
        ("nobody/nothing:Q4_K_M", "no such repo"),
        ("hf://someone/SmolLM2-GGUF/missing.gguf", "no such file in the repo (HTTP 404)"),
        ("hf://only-owner", "expected hf://owner/repo/file.gguf"),
        ("https://example.org/model.bin", "not a .gguf URL"),
        ("ftp://x/y.gguf", "not a remote GGUF"),
    ],
)
def test_bad_names(hub_repo, spec, message):
    with pytest.raises(SizingError) as e:
        rg.load_remote_gguf(spec)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


# --- every way a server can fail: one line each --------------------------------------------


def test_server_without_range_support_is_refused_not_downloaded(env, smollm2_gguf):
    files, base, _ = env
    files.add("f/smol.gguf", smollm2_gguf)
    with pytest.raises(SizingError, match="does not support range requests"):
        rg.read_remote_gguf(_ref(base, "norange/f/smol.gguf"))
    assert files.sent < smollm2_gguf.stat().st_size / 4


@pytest.mark.parametrize(
    "path, message",
    [
        ("f/none.gguf", "f/none.gguf: no such file in the repo (HTTP 404)"),
        ("gated/f/x.gguf", "gated or private (HTTP 401)"),
        ("forbidden/f/x.gguf", "gated or private (HTTP 403)"),
    ],
)
def test_http_errors(env, path, message):
    _, base, _ = env
    with pytest.raises(SizingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rg.read_remote_gguf(_ref(base, path))


def test_timeout(env, smollm2_gguf):
    files, base, _ = env
    files.add("f/smol.gguf", smollm2_gguf)
    with pytest.raises(SizingError, match=r"timed out after 0\.5 s"):
        rg.read_remote_gguf(_ref(base, "slow/f/smol.gguf"), timeout_s=0.5)


def test_cut_short_transfer_is_not_parsed(env, smollm2_gguf):
    files, base, _ = env
    files.add("f/smol.gguf", smollm2_gguf)
    with pytest.raises(SizingError, match="transfer cut short"):
        rg.read_remote_gguf(_ref(base, "short/f/smol.gguf"))


def test_non_gguf_bytes(env, tmp_path):
    files, base, _ = env
    (tmp_path / "page.gguf").write_bytes(b"<html>" + b"x" * 5000)
    files.add("f/page.gguf", tmp_path / "page.gguf")
    with pytest.raises(SizingError, match=r"not a GGUF file \(starts with b'<htm'"):
        rg.read_remote_gguf(_ref(base, "f/page.gguf"))


def test_partial_header_is_never_parsed_as_complete(env, smollm2_gguf, tmp_path):
    files, base, _ = env
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm2_gguf.read_bytes()[:600_000])  # stops inside the token list
    files.add("f/cut.gguf", cut)
    with pytest.raises(SizingError, match="truncated or corrupt GGUF header"):
        rg.read_remote_gguf(_ref(base, "f/cut.gguf"))


@pytest.mark.parametrize(
    "tail, message",
    [
        (struct.pack("<QQ", 10**13, 0), "declares 10000000000000 tensors"),
        (struct.pack("<QQQ", 0, 1, 2**60) + b"general.architecture", "declares 1152921504606846976 bytes"),
    ],
)
def test_absurd_sizes_refused_before_allocation(env, tmp_path, tail, message):
    files, base, _ = env
    f = tmp_path / "absurd.gguf"
    f.write_bytes(b"GGUF" + struct.pack("<I", 3) + tail)
    with open(f, "r+b") as fh:
        fh.truncate(200 * 10**9)  # a 200 GB file (a sparse hole): sizes are checked against it
    files.add("f/absurd.gguf", f)
    with pytest.raises(SizingError, match=message):
        rg.read_remote_gguf(_ref(base, "f/absurd.gguf"))
    assert files.sent <= rg.FIRST_READ


# --- web mode: Hugging Face hosts only ------------------------------------------------------


def test_web_mode_reads_only_hugging_face_hosts(env, smollm2_gguf, monkeypatch):
    files, base, _ = env
    files.add("f/smol.gguf", smollm2_gguf)
    monkeypatch.setenv("LLM_SIZING_WEB_MODE", "1")
    with pytest.raises(SizingError, match="in web mode only Hugging Face GGUF files are read"):
        rg.parse_spec("https://example.org/m.gguf")
    # the configured Hub endpoint is Hugging Face: allowed, but a redirect elsewhere is not
    port = base.rsplit(":", 1)[1]
    files.add("away/f/smol.gguf", smollm2_gguf)
    assert rg.read_remote_gguf(_ref(base, "f/smol.gguf")).model.arch.n_layers == 30
    ref = rg.RemoteRef(url=f"http://localhost:{port}/f/smol.gguf", label="elsewhere")
    with pytest.raises(SizingError, match="in web mode only Hugging Face hosts are read"):
        rg.read_remote_gguf(ref)
    assert rg.is_hf_host("cas-bridge.xethub.hf.co") and rg.is_hf_host("huggingface.co")
    assert not rg.is_hf_host("huggingface.co.evil.example")


# --- the CLI --------------------------------------------------------------------------------


def test_cli_estimate_from_a_remote_gguf_and_bad_input(hub_repo, monkeypatch):
    repo, _, base, _ = hub_repo
    import os

    env = {**os.environ}

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sizing", *a], capture_output=True, text=True, timeout=120, env=env
        )

    r = run("estimate", "--model", f"{repo}:Q4_1", "--ctx", "2048", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "Q4_1" in json.dumps(out)
    r = run("estimate", "--model", f"{repo}:Q2_K", "--ctx", "2048")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "no Q2_K GGUF" in r.stderr
