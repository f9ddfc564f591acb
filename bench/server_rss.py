"""Server memory over many reruns with uploads: does a session's memory stay flat?

    .venv/bin/python bench/server_rss.py [--reruns 1000]

Drives the real "Can I run it?" page through Streamlit's AppTest (the server's script
runner, in this process) and uploads a GGUF header on every rerun, cycling through a
real one (SmolLM2's first 8 MB), a tiny valid one, and hostile ones (3e11 metadata
entries in 24 bytes, 2^62 layers, nested-array head counts), each under a few names,
changing the context now and then. Prints this process's RSS after a warm-up and every
100 reruns, and the growth. Target: within 50 MiB over 1,000 reruns.

``--distinct``: every upload is a model no earlier rerun saw (the real header with its
``context_length`` changed), so no parse or estimate cache ever hits and every bounded
cache fills up and evicts. ``--wide N``: every upload a crafted header no earlier rerun
saw, with N more uniquely named tensors (the reader takes up to 65,536), every other
rerun re-typed at another quant: what bounded counts of cache entries cost when each
entry holds a large tensor list.
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import psutil  # noqa: E402
from crafted_gguf import ARRAY, U32, U64, header, llama_kvs, llama_tensors, tensor, tiny_llama  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from sizing.units import MIB  # noqa: E402

PAGE = "from sizing.ui.pages.run import render\nrender()"


def uploads() -> list[tuple[str, bytes]]:
    from sizing.live.packaged import bundled_models

    out = [
        ("tiny.gguf", tiny_llama()),
        ("kv-3e11.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 300_000_000_000)),
        ("layers-2^62.gguf", header(llama_kvs(block_count=(U64, 2**62)))),
        ("nested.gguf", tiny_llama(attention__head_count=(ARRAY, [(U32, [4, 4]), (U32, [4])], ARRAY))),
    ]
    for m in bundled_models():
        p = Path(getattr(m, "path", m))
        if p.suffix == ".gguf" and "SmolLM2" in p.name:
            out.insert(0, (p.name, p.read_bytes()[: 8 * MIB]))
            break
    return out


def distinct(data: bytes, i: int) -> bytes:
    """``data`` (a GGUF header) with its ``*.context_length`` value set to 4096 + ``i``."""
    key = data.find(b".context_length")
    if key < 0:
        return data
    at = key + len(b".context_length") + 4  # past the key and its u32 type tag
    return data[:at] + struct.pack("<I", 4096 + i) + data[at + 4 :]


def wide(n: int, i: int) -> bytes:
    """A small llama header with ``n`` more 1-D tensors, named for rerun ``i``."""
    extra = [tensor(f"blk.{j % 2}.x{i}_{j}.weight", (32,)) for j in range(n)]
    return header(llama_kvs(context_length=(U32, 4096 + i)), llama_tensors() + extra)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reruns", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--distinct", action="store_true", help="a model no earlier rerun saw on every upload")
    ap.add_argument("--wide", type=int, default=0, metavar="N", help="crafted uploads with N more tensors each")
    a = ap.parse_args()
    files = uploads()
    if a.distinct:
        files = [files[0]]  # the real header (SmolLM2's), changed on every rerun
    proc = psutil.Process()
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params["src"] = "file"
    at.query_params["hw"] = "custom"
    at.run()
    ctxs = (2048, 4096, 8192)
    base = None
    t0 = time.perf_counter()
    for i in range(a.warmup + a.reruns):
        name, data = files[i % len(files)]
        if a.distinct:
            data = distinct(data, i)
        if a.wide:
            name, data = "wide.gguf", wide(a.wide, i)
        at.get("file_uploader")[0].upload(f"{i % 3}-{name}", data)
        if a.wide:
            at.run()
            if at.selectbox(key="run.fq").options:
                at.selectbox(key="run.fq").set_value("Q4_K_M" if i % 2 else "file")
        if i % 7 == 0:
            at.number_input(key="run.ctx").set_value(ctxs[(i // 7) % len(ctxs)])
        at.run()
        if at.exception:
            print("exception:", [e.value for e in at.exception])
            return 1
        if i + 1 == a.warmup:
            gc.collect()
            base = proc.memory_info().rss
            print(f"after {a.warmup} warm-up reruns: RSS {base / MIB:.0f} MiB")
        elif base is not None and (i + 1 - a.warmup) % 100 == 0:
            gc.collect()
            rss = proc.memory_info().rss
            print(
                f"rerun {i + 1 - a.warmup:5d}: RSS {rss / MIB:.0f} MiB ({(rss - base) / MIB:+.0f} MiB), "
                f"{(time.perf_counter() - t0) / (i + 1) * 1000:.0f} ms/rerun"
            )
    gc.collect()
    grow = (proc.memory_info().rss - base) / MIB
    print(f"growth over {a.reruns} reruns with uploads: {grow:+.0f} MiB (target: within 50 MiB)")
    return 0 if grow <= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
