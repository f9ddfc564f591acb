"""A printed ``llama-server`` command, read back the way llama-server reads it.

The commands we print (sizing.commands) must allocate what we estimated. To hold them to
that, a test turns each command line into the settings llama-server would run with,
loads the model in the embedded llama.cpp with exactly those settings
(``sizing.live.probe``) and compares its buffers with the estimate. The reading follows
llama.cpp's ``common/arg.cpp`` and ``tools/server``: what a flag sets, and the defaults
that apply when it is absent (``-np`` absent means "auto": 4 slots sharing one unified
KV cache; ``-fa`` absent means auto; both caches f16; ``-b 2048 -ub 512``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sizing.errors import SizingError

SERVER_AUTO_SLOTS = 4  # tools/server: n_parallel == -1 -> 4 slots, kv_unified = true

# flag spellings (short, long) -> setting; value flags take the next argument
_VALUE = {
    "-m": "model",
    "--model": "model",
    "-hf": "hf",
    "--hf-repo": "hf",
    "-c": "ctx",
    "--ctx-size": "ctx",
    "-np": "n_parallel",
    "--parallel": "n_parallel",
    "-ngl": "n_gpu_layers",
    "--n-gpu-layers": "n_gpu_layers",
    "--gpu-layers": "n_gpu_layers",
    "-ts": "tensor_split",
    "--tensor-split": "tensor_split",
    "-ncmoe": "n_cpu_moe",
    "--n-cpu-moe": "n_cpu_moe",
    "-ot": "override_tensor",
    "--override-tensor": "override_tensor",
    "-ctk": "kv_type_k",
    "--cache-type-k": "kv_type_k",
    "-ctv": "kv_type_v",
    "--cache-type-v": "kv_type_v",
    "-fa": "flash_attn",
    "--flash-attn": "flash_attn",
    "-b": "n_batch",
    "--batch-size": "n_batch",
    "-ub": "n_ubatch",
    "--ubatch-size": "n_ubatch",
    "--host": "host",
    "--port": "port",
    "--load-mode": "load_mode",
}
# llama_load_mode_from_str's names -> (mmap, mlock)
_LOAD_MODES = {
    "auto": (True, False),
    "mmap": (True, False),
    "none": (False, False),
    "dio": (False, False),
    "mlock": (False, True),
    "mmap+mlock": (True, True),
}
_SWITCH = {
    "-kvu": ("kv_unified", True),
    "--kv-unified": ("kv_unified", True),
    "--no-mmap": ("mmap", False),
    "--mmap": ("mmap", True),
    "-nr": ("repack", False),
    "--no-repack": ("repack", False),
    "--mlock": ("mlock", True),
    "-cmoe": ("cpu_moe", True),
    "--cpu-moe": ("cpu_moe", True),
}
_INT = ("ctx", "n_parallel", "n_gpu_layers", "n_cpu_moe", "n_batch", "n_ubatch", "port")


def read_server_argv(argv: Sequence[str]) -> dict[str, Any]:
    """The settings a ``llama-server`` command line runs with (llama-server's defaults
    filled in). SizingError on a flag this reader does not know or a missing value."""
    args = list(argv)
    if not args or args[0].rsplit("/", 1)[-1] != "llama-server":
        raise SizingError("not a llama-server command line")
    got: dict[str, Any] = {}
    i = 1
    while i < len(args):
        a = args[i]
        if a in _SWITCH:
            key, val = _SWITCH[a]
            got[key] = val
            i += 1
            continue
        if a not in _VALUE:
            raise SizingError(f"llama-server flag {a!r} is not one this reader knows")
        if i + 1 >= len(args):
            raise SizingError(f"llama-server flag {a} needs a value")
        key, text = _VALUE[a], args[i + 1]
        if key in _INT:
            try:
                got[key] = int(text)
            except ValueError:
                raise SizingError(f"llama-server flag {a} takes a whole number, got {text!r}") from None
        else:
            got[key] = text
        i += 2
    n_par = got.get("n_parallel", -1)
    unified = got.get("kv_unified", False)
    if n_par == -1:  # the server's auto: 4 slots over one unified cache
        n_par, unified = SERVER_AUTO_SLOTS, True
    fa = {"on": True, "off": False, "auto": None}.get(str(got.get("flash_attn", "auto")))
    if "load_mode" in got:
        if got["load_mode"] not in _LOAD_MODES:
            raise SizingError(f"--load-mode {got['load_mode']!r}: one of {', '.join(_LOAD_MODES)}")
        got["mmap"], got["mlock"] = _LOAD_MODES[got["load_mode"]]
    return dict(
        model=got.get("model"),
        hf=got.get("hf"),
        ctx=got.get("ctx", 0),
        n_parallel=n_par,
        kv_unified=unified,
        n_gpu_layers=got.get("n_gpu_layers", -1),
        kv_type_k=got.get("kv_type_k", "f16"),
        kv_type_v=got.get("kv_type_v", "f16"),
        flash_attn=fa,
        n_batch=got.get("n_batch", 2048),
        n_ubatch=got.get("n_ubatch", 512),
        n_cpu_moe=got.get("n_cpu_moe", 0),
        cpu_moe=got.get("cpu_moe", False) or got.get("override_tensor") == "exps=CPU",
        tensor_split=got.get("tensor_split"),
        mmap=got.get("mmap", True),
        repack=got.get("repack", True),
        mlock=got.get("mlock", False),
    )


def probe_config(settings: dict[str, Any]) -> dict[str, Any]:
    """The embedded llama.cpp's load settings (``sizing.live.probe`` config) for them.

    The embedded build is CPU-only: layer and expert placement flags have no effect there,
    which the comparison accounts for by sizing the CPU backend."""
    if not settings["ctx"]:
        raise SizingError("the command leaves -c to the model's maximum; give the context")
    return dict(
        ctx=settings["ctx"],
        n_batch=settings["n_batch"],
        n_ubatch=settings["n_ubatch"],
        kv_type_k=settings["kv_type_k"],
        kv_type_v=settings["kv_type_v"],
        flash_attn=settings["flash_attn"],
        n_parallel=settings["n_parallel"],
        kv_unified=settings["kv_unified"],
        n_gpu_layers=0,
        mmap=settings["mmap"],
        repack=settings["repack"],
        mlock=settings["mlock"],
    )
