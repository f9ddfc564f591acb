"""llama.cpp's parameters (xllamacpp ``CommonParams``) for one scenario.

Two in-process loaders turn the same scenario fields into llama.cpp settings: the memory
probe (``sizing.live.probe``) and the embedded runner's child
(``sizing.live.embedded_child``). Building them in one place keeps what we measure and
what we time on the same configuration. Each caller then sets only what differs (log
verbosity, warm-up, threads). xllamacpp is imported on call: only children load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def common_params(
    model_path: str | Path,
    *,
    ctx: int,
    n_batch: int,
    n_ubatch: int,
    n_parallel: int,
    kv_unified: bool,
    kv_type_k: str,
    kv_type_v: str,
    flash_attn: bool | None,
    n_gpu_layers: int,
    fit: bool = False,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    mmproj: str | Path | None = None,
) -> Any:
    """``CommonParams`` for the scenario; ``flash_attn=None`` lets llama.cpp decide."""
    import xllamacpp as xl

    fa = xl.llama_flash_attn_type
    p = xl.CommonParams()
    p.model.path = str(model_path)
    p.n_ctx = int(ctx)
    p.n_batch = int(n_batch)
    p.n_ubatch = int(n_ubatch)
    p.n_parallel = int(n_parallel)
    p.kv_unified = bool(kv_unified)
    p.cache_type_k = getattr(xl.ggml_type, f"GGML_TYPE_{kv_type_k.upper()}")
    p.cache_type_v = getattr(xl.ggml_type, f"GGML_TYPE_{kv_type_v.upper()}")
    p.flash_attn_type = {
        True: fa.LLAMA_FLASH_ATTN_TYPE_ENABLED,
        False: fa.LLAMA_FLASH_ATTN_TYPE_DISABLED,
        None: fa.LLAMA_FLASH_ATTN_TYPE_AUTO,
    }[flash_attn]
    p.n_gpu_layers = int(n_gpu_layers)
    p.fit_params = bool(fit)  # measure the scenario as given unless asked to let llama.cpp shrink it
    p.cache_ram_mib = 0  # no prompt cache: it would add to RSS and is not what we size
    # --no-repack is common_params.no_extra_bufts; --no-mmap / --mlock are its load mode
    p.no_extra_bufts = not repack
    lm = xl.llama_load_mode
    if not (mmap and not mlock):  # the default (auto) maps the file
        p.load_mode = {
            (True, True): lm.LLAMA_LOAD_MODE_MMAP_MLOCK,
            (False, True): lm.LLAMA_LOAD_MODE_MLOCK,
            (False, False): lm.LLAMA_LOAD_MODE_NONE,
        }[(mmap, mlock)]
    if mmproj:  # the multimodal projector, loaded (and sized) next to the model
        p.mmproj.path = str(mmproj)
    return p
