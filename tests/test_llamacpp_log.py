"""Reading llama.cpp's output: one build type however llama.cpp prints its build, backends by device name.

The lines are llama.cpp's own: ``build_info: b%d-%s`` (tools/server), ``build: %d (%s) with %s for %s``
(common's ``common_params_print_info``), ``build = %d (%s)`` (older common's ``print_build_info``),
``version: %d (%s)`` (``--version``), and llama-bench's ``build_number`` / ``build_commit`` JSON fields.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.live.llamacpp_log import (
    LlamaBuild,
    backend_of,
    build_from_bench_row,
    build_from_log,
    parse_llama_log,
    runner_version,
)

LOGS = Path(__file__).parent / "data" / "llama_logs"


@pytest.mark.parametrize(
    "line",
    [
        "srv          init: build_info: b6250-5e6229a8",
        "common_params_print_info: build 6250 (5e6229a8) with GNU 13.2.0 for x86_64-linux-gnu",
        "main: build: 6250 (5e6229a8) with cc (GCC) 13.2.0 for x86_64-linux-gnu",
        "main: build = 6250 (5e6229a8)",
        "version: 6250 (5e6229a8)\nbuilt with cc (GCC) 13.2.0 for x86_64-linux-gnu",
    ],
)
def test_every_way_llama_cpp_prints_its_build_reads_as_one_build(line):
    build = build_from_log(line)
    assert build == LlamaBuild(number=6250, commit="5e6229a8")
    assert str(build) == "llama.cpp b6250 (5e6229a8)" and build.known


def test_llama_bench_rows_name_their_build_the_same_way():
    row = {"build_commit": "5e6229a8", "build_number": 6250, "avg_ts": 10.0}
    assert str(build_from_bench_row(row)) == "llama.cpp b6250 (5e6229a8)"
    assert build_from_bench_row({"avg_ts": 10.0}) is None


def test_the_wheels_build_without_a_number_is_not_added_to_the_runner():
    # the captured xllamacpp log says "build_info: b0-unknown": no build worth naming
    log = (LOGS / "smollm2_fit_on.log").read_text()
    build = build_from_log(log)
    assert build == LlamaBuild(number=0, commit="unknown") and not build.known
    assert runner_version("xllamacpp 2026.10.11549", build) == "xllamacpp 2026.10.11549"
    known = LlamaBuild(number=6250, commit="5e6229a8")
    assert runner_version("xllamacpp 1.0", known) == "xllamacpp 1.0 (llama.cpp b6250 (5e6229a8))"
    # the memory parser names the build in the same type's words
    assert parse_llama_log(log).llama_build == "llama.cpp b0 (unknown)"


def test_no_build_line_is_no_build():
    assert build_from_log("llama_model_loader: loaded meta data with 33 key-value pairs") is None


@pytest.mark.parametrize(
    ("names", "backend"),
    [
        (["CUDA0", "CUDA1"], "cuda"),
        (["MTL0"], "metal"),
        (["Metal"], "metal"),
        (["ROCm0"], "rocm"),
        (["HIP0"], "rocm"),
        (["Vulkan0"], "vulkan"),
        (["SYCL0"], "sycl"),
        (["CUDA,BLAS"], "cuda"),
        (["CPU"], "cpu"),
        (["BLAS"], "cpu"),
    ],
)
def test_backend_of_device_names(names, backend):
    assert backend_of(names) == backend
