"""Hypothesis strategies and checks shared by the fuzz tests and ``bench/fuzz.py``.

Three surfaces a stranger controls: a GGUF header (types, counts, arrays, strings), a
page's query string, and the CLI's flags. Each ``check_*`` feeds one generated case to
the real component and raises ``AssertionError`` for anything but an answer or one
clear refusal (a traceback, an "internal error", a multi-line CLI error).
"""

from __future__ import annotations

import contextlib
import io
import json
import struct

from crafted_gguf import ARRAY, BOOL, F32, F64, I8, I16, I32, I64, STRING, U8, U16, U32, U64, kv, tensor
from hypothesis import strategies as st

from sizing.errors import SizingError

# --- GGUF headers ----------------------------------------------------------------------

ARCH_KEYS = [
    "block_count",
    "embedding_length",
    "attention.head_count",
    "attention.head_count_kv",
    "feed_forward_length",
    "context_length",
    "attention.key_length",
    "attention.value_length",
    "expert_count",
    "expert_used_count",
    "leading_dense_block_count",
    "expert_feed_forward_length",
    "expert_shared_count",
    "attention.kv_lora_rank",
    "attention.sliding_window",
    "rope.dimension_count",
    "vocab_size",
    "attention.sliding_window_pattern",
]
TENSOR_NAMES = [
    "token_embd.weight",
    "output.weight",
    "output_norm.weight",
    "rope_freqs.weight",
    "blk.0.ffn_up.weight",
    "blk.0.ffn_gate.weight",
    "blk.0.ffn_up_exps.weight",
    "blk.1.ffn_up_exps.weight",
    "blk.0.ffn_up_shexp.weight",
    "blk.0.attn_q.weight",
    "blk.0.attn_q_norm.weight",
    "blk.0.attn_sinks.weight",
]
SCALARS = {
    U8: st.integers(0, 255),
    I8: st.integers(-128, 127),
    U16: st.integers(0, 2**16 - 1),
    I16: st.integers(-(2**15), 2**15 - 1),
    U32: st.integers(0, 2**32 - 1),
    I32: st.integers(-(2**31), 2**31 - 1),
    U64: st.integers(0, 2**64 - 1),
    I64: st.integers(-(2**63), 2**63 - 1),
    F32: st.floats(width=32, allow_nan=True),
    F64: st.floats(allow_nan=True),
    BOOL: st.booleans(),
}
interesting_ints = st.sampled_from([0, 1, 2, 3, 64, 511, 512, 513, 2**31, 2**32 - 1, 2**62, 2**64 - 1])


@st.composite
def gguf_value(draw, depth: int = 0) -> tuple[int, object, int | None]:
    """(value type, value, item type): scalars, strings, arrays, arrays of arrays."""
    kinds = ["int", "scalar", "string"] + (["array"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return (draw(st.sampled_from([U32, U64, I32])), draw(interesting_ints.filter(lambda x: x < 2**31)), None)
    if kind == "scalar":
        t = draw(st.sampled_from(sorted(SCALARS)))
        return t, draw(SCALARS[t]), None
    if kind == "string":
        return STRING, draw(st.text(max_size=40)), None
    item = draw(st.sampled_from([U32, I32, F32, STRING, BOOL] + ([ARRAY] if depth < 1 else [])))
    if item == ARRAY:
        inner = draw(st.lists(st.tuples(st.just(U32), st.lists(st.integers(0, 2**32 - 1), max_size=4)), max_size=4))
        return ARRAY, inner, ARRAY
    strat = st.text(max_size=8) if item == STRING else SCALARS.get(item, st.integers(0, 2**31 - 1))
    return ARRAY, draw(st.lists(strat, max_size=8)), item


def _rarely(draw, percent: int = 15) -> bool:
    """True about ``percent`` % of the time (Hypothesis leans to small integers: the
    unmutated header is its simplest case)."""
    return draw(st.integers(0, 99)) >= 100 - percent


@st.composite
def gguf_headers(draw) -> bytes:
    """A valid small header (so the reader and the estimator go deep) with a few hostile
    mutations: a key's type or value replaced, a key dropped, odd tensors added, the
    counts lying, the bytes cut short."""
    arch = draw(st.sampled_from(["llama", "qwen3moe", "gemma3", "deepseek2", "gpt-oss", "x" * 70]))
    fields: dict[str, tuple] = {
        "general.architecture": (STRING, arch, None),
        f"{arch}.block_count": (U32, 2, None),
        f"{arch}.embedding_length": (U32, 256, None),
        f"{arch}.attention.head_count": (U32, 4, None),
        f"{arch}.attention.head_count_kv": (U32, 2, None),
        f"{arch}.feed_forward_length": (U32, 512, None),
        f"{arch}.context_length": (U32, 4096, None),
    }
    if arch in ("qwen3moe", "deepseek2", "gpt-oss"):
        fields.update({f"{arch}.expert_count": (U32, 8, None), f"{arch}.expert_used_count": (U32, 2, None)})
    for _ in range(draw(st.integers(0, 3)) if _rarely(draw, 50) else 0):
        key = f"{arch}.{draw(st.sampled_from(ARCH_KEYS))}"
        if draw(st.booleans()):
            fields.pop(key, None)
        else:
            fields[key] = draw(gguf_value())
    if _rarely(draw):
        fields["general.alignment"] = draw(gguf_value())
    if _rarely(draw):
        fields["split.count"] = (U16, draw(st.integers(0, 5)), None)
    kvs = [kv(k, t, v, it) for k, (t, v, it) in fields.items()]
    q = draw(st.sampled_from([(0, 1), (1, 1), (8, 32), (12, 256), (2, 32)]))  # (ggml type, block)
    tensors = [tensor("token_embd.weight", (256, 1000), q[0]), tensor("output_norm.weight", (256,))]
    for i in range(2):
        for n, shape in (
            (f"blk.{i}.attn_q.weight", (256, 256)),
            (f"blk.{i}.ffn_up.weight", (256, 512)),
            (f"blk.{i}.ffn_gate.weight", (256, 512)),
            (f"blk.{i}.ffn_down.weight", (512, 256)),
        ):
            tensors.append(tensor(n, shape, q[0]))
    for name in draw(st.lists(st.sampled_from(TENSOR_NAMES), max_size=4, unique=True)) if _rarely(draw, 40) else ():
        shape = tuple(
            draw(st.lists(st.one_of(st.sampled_from([1, 32, 256, 512]), interesting_ints), min_size=1, max_size=5))
        )
        tensors.append(tensor(name, shape, draw(st.sampled_from([0, 1, 8, 12, 39, 99])), 0))
    n_kv, n_t = len(kvs), len(tensors)
    if _rarely(draw):
        n_kv = draw(interesting_ints)
    if _rarely(draw):
        n_t = draw(interesting_ints)
    version = draw(st.sampled_from([3, 2, 1])) if _rarely(draw) else 3
    data = b"GGUF" + struct.pack("<IQQ", version, n_t, n_kv) + b"".join(kvs) + b"".join(tensors)
    if _rarely(draw):
        data = data[: len(data) - draw(st.integers(0, len(data)))]
    return data


def check_header(data: bytes) -> str:
    """Read an uploaded header and size what it describes: an answer or one SizingError."""
    from sizing.estimate import estimate
    from sizing.sources.gguf_reader import read_gguf_bytes
    from sizing.sources.resolve import ResolvedModel

    try:
        g = read_gguf_bytes(data, "fuzz.gguf")
    except SizingError as exc:
        assert "\n" not in str(exc), str(exc)
        return "refused"
    try:
        estimate(ResolvedModel(arch=g.arch, tensors=g.tensors, kind="gguf", file_type=g.file_type), None, 4096)
    except SizingError:
        return "read, estimate refused"
    return "sized"


# --- query strings ---------------------------------------------------------------------

RUN_PARAMS = ["src", "model", "repo", "quant", "fq", "ctx", "kv", "np", "fa", "hw", "gpu", "count", "mem", "bw", "ram"]
hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "\n\n[Sign in again](https://evil.example)",
            "![x](https://evil.example/p.png)",
            "../../etc/passwd",
            "/etc/passwd",
            "Makefile",
            "sizing/models",
            "-1",
            "1e309",
            "nan",
            "0",
            "99999999999",
            "<script>",
            ":material/home:",
            "$x$",
            "a" * 300,
            "Qwen/Qwen3-8B",
            "nvidia-rtx-4090",
            "catalog",
            "file",
        ]
    ),
)
query_strings = st.dictionaries(
    st.one_of(st.sampled_from(RUN_PARAMS), st.text(min_size=1, max_size=8)), hostile_text, max_size=6
)


def check_query(params: dict[str, str], script: str = "from sizing.ui.pages.run import render\nrender()") -> str:
    """Open the page with this query string: it renders, with warnings at most."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(script, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    bad = [e.value for e in at.error if "internal error" in e.value]
    assert not bad, bad
    return "warned" if at.warning else "rendered"


# --- CLI flags -------------------------------------------------------------------------

FLAG_VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "1",
            "4096",
            "1e309",
            "nan",
            "inf",
            "-inf",
            "99999999999999999999",
            "0.5",
            "",
            "Qwen/Qwen3-8B",
            "SmolLM2-135M-Instruct",
            "RTX 4090",
            "2 x RTX 3090",
            "this",
            "f16",
            "q4_0",
            "Q4_K_M",
            "cpu",
            "cuda",
            "on",
            "off",
            "lora",
            "qlora",
            "full",
            "../x.gguf",
            "/dev/zero",
            "a\nb",
            "x" * 2000,
        ]
    ),
    st.text(max_size=20),
)


def cli_flags(command: str):
    """Strategy: argv for one subcommand, from the parser's own option list."""
    from sizing.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    options = sorted(
        o
        for a in sub.choices[command]._actions
        for o in a.option_strings
        if o.startswith("--") and o not in ("--help", "--export", "--probe-bandwidth")
    )

    base = {
        "estimate": ["--model", "Qwen/Qwen3-8B"],
        "finetune": ["--model", "Qwen/Qwen3-8B"],
        "plan": ["--model", "Qwen/Qwen3-8B"],
        "fit": ["--gpu", "RTX 4090"],
    }.get(command, [])

    @st.composite
    def argv(draw):
        out = [command] + (base if not _rarely(draw, 30) else [])
        for opt in draw(st.lists(st.sampled_from(options), max_size=6)):
            out.append(opt)
            if draw(st.integers(0, 4)):
                out.append(draw(FLAG_VALUES))
        return out

    return argv()


def check_cli(argv: list[str]) -> str:
    """Run the CLI in-process: exit 0/1, or 2 with one stderr line; never a traceback."""
    from sizing.cli import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse
            rc = e.code if isinstance(e.code, int) else 2
    text = err.getvalue()
    assert "Traceback" not in text, text
    assert rc in (0, 1, 2), (rc, text)
    if rc == 2 and not text.strip():  # --json: the refusal is a JSON answer on stdout
        json.loads(out.getvalue())
    elif rc == 2:
        lines = text.splitlines()
        assert len(lines) == 1 and lines[0].startswith("llm-sizing"), text
    return f"exit {rc}"
