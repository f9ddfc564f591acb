"""Bytes and time to size a remote GGUF from its header, served by a local HTTP server.

    .venv/bin/python bench/remote_header.py

For synthetic headers of ~100 GB models over sparse holes (written by the live checks'
synthetic writer: real architecture, real tensor table, the model's own vocabulary size)
and the real packaged GGUFs, prints the file size, the header size, the bytes actually
transferred, the number of range requests and the wall time, cold and from the cache.
Target: under 2 MiB transferred for a ~100 GB model.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from remote_server import Files, serve  # noqa: E402

from sizing.live.packaged import gemma3_path, smollm2_path  # noqa: E402
from sizing.live.synthetic import write_synthetic_gguf  # noqa: E402
from sizing.sources import remote_gguf as rg  # noqa: E402
from sizing.units import MIB  # noqa: E402
from sizing.sources.catalog import load_catalog  # noqa: E402

SYNTHETIC = [  # ~100 GB files, vocabularies from 129k to 163k tokens
    ("Qwen/Qwen3-235B-A22B", "Q3_K_M"),
    ("meta-llama/Llama-3.3-70B-Instruct", "Q8_0"),
    ("deepseek-ai/DeepSeek-V3", "IQ1_S"),
]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    os.environ["HF_HUB_CACHE"] = str(tmp / "hub")
    os.environ.pop("HF_HUB_OFFLINE", None)
    files = Files()
    cat = load_catalog()
    todo: list[tuple[str, Path]] = []
    for model, quant in SYNTHETIC:
        path = write_synthetic_gguf(cat.get(model), quant, tmp / f"{model.split('/')[1]}-{quant}.gguf")
        todo.append((f"{model} {quant} (synthetic)", path))
    for label, path in (("SmolLM2-135M Q4_1 (real)", smollm2_path()), ("Gemma-3-270M Q4_K_M (real)", gemma3_path(tmp))):
        if path is not None:
            todo.append((label, path))
    server = serve(files)
    base = f"http://127.0.0.1:{server.server_port}"
    print(
        f"{'file':44} {'size GB':>8} {'header MiB':>10} {'sent MiB':>9} {'requests':>8} {'cold s':>7} {'cached s':>8}"
    )
    for label, path in todo:
        files.add(path.name, path)
        ref = rg.RemoteRef(url=f"{base}/{path.name}", label=path.name)
        files.reset()
        t0 = time.perf_counter()
        r = rg.read_remote_gguf(ref)
        cold = time.perf_counter() - t0
        sent = files.sent
        t0 = time.perf_counter()
        rg.read_remote_gguf(ref)
        warm = time.perf_counter() - t0
        flag = "" if r.model.file_size < 50e9 or sent < 2 * MIB else "  OVER 2 MiB"
        print(
            f"{label:44} {r.model.file_size / 1e9:8.1f} {r.model.data_offset / MIB:10.2f} {sent / MIB:9.3f} "
            f"{r.requests:8d} {cold:7.2f} {warm:8.2f}{flag}"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
