"""Isolation of live checks: real child processes that crash, hang, hog memory or compete.

The external-runner tests put small executable scripts named ``llama-bench`` /
``llama-server`` on a temporary PATH: real processes at the external-binary boundary
that abort, segfault or hang the way a broken llama.cpp build does.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sizing.errors import SizingError
from sizing.live.external import ExternalRunner, find_llama_binaries, parse_bench_json
from sizing.live.isolation import (
    FreeMemory,
    LiveCheckBusy,
    MemoryNeed,
    machine_lock,
    memory_guard,
    run_child,
)
from sizing.live.runner import Check
from sizing.units import GIB as GiB
from sizing.live.select import select_runner

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and scripts")


def _script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# ----------------------------------------------------------------------------- run_child


def test_child_abort_is_reported_not_raised():
    res = run_child([sys.executable, "-c", "import os; print('started', flush=True); os.abort()"], timeout_s=30)
    assert res.returncode is not None and res.returncode < 0
    assert res.signal_name == "SIGABRT"
    assert "aborted" in res.describe()
    assert res.stdout_lines == ["started"]  # what it said before dying is kept


@pytest.mark.timeout(45)  # a hang guard, not a timing check: the child sleeps 60 s
def test_child_hang_is_killed_at_the_timeout():
    res = run_child([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=1.0)
    assert res.timed_out
    assert "timed out" in res.describe()


def test_child_silent_past_its_idle_limit_is_stopped_keeping_what_it_said():
    # a batch child (the memory probe) reports each finished step; one that stops
    # reporting is stopped long before its whole-batch deadline
    code = "import time; print('step 1 done', flush=True); time.sleep(600)"
    res = run_child([sys.executable, "-c", code], timeout_s=600, idle_s=10)
    assert res.timed_out and res.stdout_lines == ["step 1 done"]
    assert "timed out" in res.describe()


def test_child_and_its_children_die_on_timeout(tmp_path):
    # A hung llama-server started by a driver must not survive the driver.
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    res = run_child([sys.executable, "-c", code], timeout_s=2.0)
    assert res.timed_out
    pid = int(pidfile.read_text())
    time.sleep(0.3)
    import psutil

    try:  # gone, or a zombie waiting for init to reap it: either way not running
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass


def test_child_can_be_cancelled():
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    res = run_child([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=60, cancel=cancel)
    assert res.cancelled and not res.timed_out
    assert res.wall_s < 10


def test_peak_rss_of_the_child_is_measured():
    code = "b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('ok')"
    res = run_child([sys.executable, "-c", code], timeout_s=60)
    assert res.returncode == 0
    assert res.peak_rss_bytes >= 300 * 1024 * 1024


def test_missing_program_is_a_clear_error():
    with pytest.raises(SizingError, match="cannot start"):
        run_child(["/nonexistent/llama-bench"], timeout_s=5)


# ---------------------------------------------------------------------------------- lock


def test_one_live_check_per_machine(tmp_path):
    # Another *process* holds the lock, as a second app instance would.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from sizing.live.isolation import machine_lock\n"
            f"with machine_lock(Path({str(tmp_path)!r})):\n    print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LiveCheckBusy, match=rf"pid {holder.pid}"):
            with machine_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with machine_lock(tmp_path):  # released with the process, no stale lock
        pass


# -------------------------------------------------------------------------- memory guard


def test_synthetic_models_of_dead_checks_are_swept_and_live_ones_kept(tmp_path):
    """A check killed before anything could clean up leaves its synthetic folder behind
    (the folder name carries the check's pid): the next check removes it, and nothing a
    running check (or this process) still uses."""
    from sizing.live.check import SYNTHETIC_PREFIX, sweep_synthetic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folders = {
            who: tmp_path / f"{SYNTHETIC_PREFIX}{pid}-x1"
            for who, pid in (("dead", dead.pid), ("live", live.pid), ("self", os.getpid()))
        }
        for d in folders.values():
            d.mkdir()
            (d / "model.gguf").write_bytes(b"GGUF")
        other = tmp_path / "someone-elses-folder"
        other.mkdir()
        assert sweep_synthetic(tmp_path) == [folders["dead"]]
        assert not folders["dead"].exists()
        assert folders["live"].exists() and folders["self"].exists() and other.exists()
    finally:
        live.kill()
        live.wait()


def test_guard_refuses_with_the_estimates_numbers():
    need = MemoryNeed(host_bytes=40 * GiB, basis="estimate for X at ctx 4096")
    reason = memory_guard(need, FreeMemory(host_bytes=16 * GiB))
    assert reason is not None
    assert "estimate for X at ctx 4096" in reason
    assert "40.00 GiB" in reason and "16.00 GiB free" in reason


def test_guard_checks_each_gpu_and_passes_what_fits():
    need = MemoryNeed(host_bytes=1 * GiB, devices={"CUDA0": 20 * GiB})
    assert memory_guard(need, FreeMemory(host_bytes=8 * GiB, devices={"CUDA0": 24 * GiB})) is None
    reason = memory_guard(need, FreeMemory(host_bytes=8 * GiB, devices={"CUDA0": 12 * GiB}))
    assert "CUDA0 VRAM" in reason and "12.00 GiB free" in reason
    assert "no such device" in memory_guard(need, FreeMemory(host_bytes=8 * GiB))


# ------------------------------------------------------------------- external binaries


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return d


def _check(tmp_path, **kw) -> Check:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 60)
    return Check(model_path=str(model), ctx=512, n_prompt=16, n_gen=4, **kw)


def test_auto_finds_llama_bench_on_path(bin_dir):
    _script(bin_dir, "llama-bench", "exit 0\n")
    runner = select_runner("auto")
    assert isinstance(runner, ExternalRunner)
    assert runner.binaries["bench"] == str(bin_dir / "llama-bench")


@pytest.mark.parametrize("sig", ["SEGV", "ABRT"])
def test_external_runner_that_crashes(bin_dir, tmp_path, sig):
    _script(
        bin_dir,
        "llama-bench",
        f"""
        echo "llama_model_loader: loaded meta data with 3 key-value pairs" >&2
        echo "load_tensors:          CPU model buffer size =    12.50 MiB" >&2
        kill -{sig} $$
    """,
    )
    events = []
    m = select_runner(str(bin_dir / "llama-bench")).run(_check(tmp_path, timeout_s=30), progress=events.append)
    assert m.status == "crashed"
    assert f"SIG{sig}" in m.message
    # the partial result (the weights it had loaded) is reported
    assert m.weights_bytes == round(12.5 * 1024 * 1024)
    assert m.partial
    assert [e.stage for e in events][:2] == ["queued", "loading"]


@pytest.mark.timeout(45)  # a hang guard, not a timing check: the script sleeps 60 s
def test_external_runner_that_hangs_past_the_timeout(bin_dir, tmp_path):
    _script(bin_dir, "llama-bench", "sleep 60\n")
    m = select_runner(str(bin_dir)).run(_check(tmp_path, timeout_s=2))
    assert m.status == "timeout"
    assert "limit 2 s" in m.message


def test_external_server_that_crashes_while_loading(bin_dir, tmp_path):
    _script(
        bin_dir,
        "llama-server",
        """
        case "$1" in --version) echo "version: 4321 (abcdef1)"; echo "built with cc for x86_64"; exit 0;; esac
        echo "error: failed to load model" >&2
        kill -SEGV $$
    """,
    )
    runner = select_runner(str(bin_dir / "llama-server"))
    assert runner.version == "llama.cpp b4321 (abcdef1)"
    m = runner.run(_check(tmp_path, timeout_s=30))
    assert m.status == "crashed"
    assert "failed to load model" in m.message or "failed while loading" in m.message


def test_llama_bench_json_is_read():
    # llama-bench -o json prints an array of tests; pp and tg rows give the two speeds.
    text = (
        '[{"build_commit": "abc1234", "build_number": 4500, "n_prompt": 512, "n_gen": 0,'
        ' "avg_ts": 812.5}, {"build_commit": "abc1234", "build_number": 4500,'
        ' "n_prompt": 0, "n_gen": 128, "avg_ts": 41.25}]'
    )
    out = parse_bench_json("some banner\n" + text)
    assert out["prefill_tokens_per_s"] == 812.5 and out["n_prompt"] == 512
    assert out["decode_tokens_per_s"] == 41.25 and out["n_gen"] == 128
    assert out["version"] == "llama.cpp b4500 (abc1234)"
    with pytest.raises(ValueError):
        parse_bench_json("no json here")


def test_binaries_are_found_next_to_each_other(bin_dir):
    _script(bin_dir, "llama-server", "exit 0\n")
    _script(bin_dir, "llama-bench", "exit 0\n")
    found = find_llama_binaries(str(bin_dir / "llama-server"))
    assert set(found) == {"server", "bench"}


def test_missing_runner_says_how_to_get_one(tmp_path):
    # No llama.cpp on PATH and the xllamacpp package blocked at import: a clean machine.
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "xllamacpp":
                    raise ModuleNotFoundError("blocked")
        sys.meta_path.insert(0, Block())
        from sizing.cli import main
        sys.exit(main(["verify", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--ctx", "1024"]))
    """)
    env = {**os.environ, "PATH": str(tmp_path), "LLM_SIZING_HOME": str(tmp_path / "home")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 1
    assert "no llama.cpp runner found" in err[0]
    assert "pip install xllamacpp" in err[0] and "llama-bench" in err[0]


# ------------------------------------------------------------------------- NVML (no GPU here)


def test_gpu_memory_delta_and_free_vram_through_nvml(monkeypatch):
    """With a GPU, the sampler reports the peak rise in used VRAM during a run.

    This machine has no NVIDIA driver, so libnvidia-ml is replaced by the project's
    fake of the C library (tests/hardware_fakes.py); pynvml itself is the real one.
    """
    from hardware_fakes import FakeGPU, FakeNVMLLibrary, install_fake_nvml

    from sizing.hardware.detect.nvidia import memory_free
    from sizing.live.isolation import free_memory
    from sizing.live.runner import GpuSampler

    gpu = FakeGPU(name="NVIDIA GeForce RTX 4090", total=24 * GiB, used=1 * GiB)
    install_fake_nvml(monkeypatch, FakeNVMLLibrary([gpu]))
    assert memory_free() == {"CUDA0": 23 * GiB}
    assert free_memory().devices == {"CUDA0": 23 * GiB}
    with GpuSampler(period_s=0.02) as sampler:
        gpu.used = 9 * GiB  # llama.cpp loads the model...
        time.sleep(0.2)
        gpu.used = 2 * GiB  # ...and frees most of it before the run ends
        time.sleep(0.1)
    assert sampler.delta == {"CUDA0": 8 * GiB}


def test_load_records_each_gpus_utilisation_through_nvml(monkeypatch):
    from hardware_fakes import FakeGPU, FakeNVMLLibrary, install_fake_nvml

    from sizing.hardware.detect.nvidia import memory_used, utilisation
    from sizing.live.load import LoadMonitor

    busy = FakeGPU(name="NVIDIA GeForce RTX 4090", total=24 * GiB, used=3 * GiB, utilisation=37)
    idle = FakeGPU(name="NVIDIA GeForce RTX 3090", total=24 * GiB, used=0)
    install_fake_nvml(monkeypatch, FakeNVMLLibrary([busy, idle]))
    assert utilisation() == {"GPU0": 0.37, "GPU1": 0.0}
    assert memory_used() == {"CUDA0": 3 * GiB, "CUDA1": 0}
    record = LoadMonitor(sleep=lambda s: None).after()
    assert record["before"]["gpu_utilisation"] == record["during"]["gpu_utilisation"] == {"GPU0": 0.37, "GPU1": 0.0}


def test_no_nvidia_driver_skips_the_gpu_delta(monkeypatch):
    from hardware_fakes import install_fake_nvml

    from sizing.hardware.detect.nvidia import memory_free, memory_used, utilisation
    from sizing.live.runner import GpuSampler

    install_fake_nvml(monkeypatch, None)  # the real "library not found" path
    assert memory_free() == {}
    assert memory_used() is None and utilisation() is None
    with GpuSampler() as sampler:
        pass
    assert sampler.delta is None


def test_gpu_run_refused_on_the_gpus_numbers(bin_dir, tmp_path, monkeypatch):
    """A CUDA llama.cpp with too little free VRAM: refused before anything loads or is written."""
    from sizing.live.check import run_check

    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "home"))
    _script(
        bin_dir,
        "llama-server",
        """
        case "$1" in --version) echo "version: 5000 (1234abc)"; echo "built with CUDA 12.4"; exit 0;; esac
        echo "must not be started" >&2; exit 1
    """,
    )
    runner = select_runner(str(bin_dir / "llama-server"))
    assert runner.backend == "cuda"
    r = run_check(
        "meta-llama/Llama-3.1-8B-Instruct",
        quant="Q4_K_M",
        ctx=8192,
        n_gpu_layers=-1,
        runner=runner,
        free=FreeMemory(host_bytes=64 * GiB, devices={"CUDA0": 4 * GiB}),
    )
    assert r.status == "refused"
    assert "CUDA0 VRAM: needs" in r.refused and "4.00 GiB free" in r.refused
    assert "host RAM" not in r.refused  # the host part fits
    assert not (tmp_path / "home" / "live_runs.jsonl").exists()


def test_verify_while_another_check_runs(tmp_path, smollm2_gguf):
    """A second verify on the same machine gets one clear line, not a second llama.cpp."""
    home = tmp_path / "home"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path; from sizing.live.isolation import machine_lock\n"
            f"with machine_lock(Path({str(home)!r})):\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "sizing",
                "verify",
                "--model",
                str(smollm2_gguf),
                "--ctx",
                "1024",
                "--prompt-tokens",
                "16",
                "--gen-tokens",
                "4",
                "--runner",
                "embedded",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LLM_SIZING_HOME": str(home)},
        )
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "another live check is running" in lines[0], res.stderr
