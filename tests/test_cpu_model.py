"""The CPU side of the speed model: the vector ISA from real CPU and llama.cpp build data,
the weight types that take each matrix path, and the calibration entries per ISA.

Speed figures are bench output (bench/speed_cpu.py, bench/cpu_kernels.py); these tests
check behaviour only.
"""

from __future__ import annotations

import math

import pytest

from harness.speed_fit import load_bench
from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.cpu import (
    isa_from_flags,
    kernel_class,
    prefill_kernel_factor,
    repacked_types,
    usable_isa,
)
from sizing.core.speed.estimate import estimate_speed, read_rate_basis, work_bandwidth
from sizing.core.traffic import DeviceRate, model_traffic, single_device_work
from sizing.hardware.detect.cpu import parse_cpuinfo
from sizing.sources.gguf_reader import read_gguf


def test_isa_of_this_cpu_follows_its_cpuinfo_flags():
    text = open("/proc/cpuinfo").read()
    _, flags = parse_cpuinfo(text)
    raw = set(next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "").split())
    isa = isa_from_flags(flags)
    if {"avx512f", "avx512bw", "amx_int8"} <= raw:
        assert isa == "amx"
    elif {"avx512f", "avx512bw"} <= raw:
        assert isa == "avx512"
    elif {"avx2", "fma"} <= raw:
        assert isa == "avx2"
    assert isa_from_flags(()) == "generic"


def test_arm_features_rank_by_what_the_kernels_use():
    assert isa_from_flags(["NEON"]) == "neon"
    assert isa_from_flags(["NEON", "DOTPROD"]) == "neon-dotprod"
    assert isa_from_flags(["NEON", "DOTPROD", "I8MM"]) == "neon-i8mm"
    assert isa_from_flags(["NEON", "DOTPROD", "I8MM", "SVE"]) == "sve"


def test_the_embedded_build_caps_the_isa(tmp_path, monkeypatch):
    """The real xllamacpp build reports its features; the kernels that run are the lower
    of the build's and the CPU's."""
    monkeypatch.setenv("LLM_SIZING_CACHE_DIR", str(tmp_path))
    from sizing.live import build_isa

    build_isa.embedded_build_features.cache_clear()
    feats = build_isa.embedded_build_features()
    assert feats is not None and "AVX2" in feats or "NEON" in (feats or ())
    assert (tmp_path / "llama_build_features.json").is_file()  # asked once, then cached
    build = isa_from_flags(feats)
    _, flags = parse_cpuinfo(open("/proc/cpuinfo").read())
    cpu = isa_from_flags(flags)
    used = usable_isa(cpu, build)
    order = ("generic", "avx", "avx2", "avx512", "amx")
    if cpu in order and build in order:
        assert order.index(used) == min(order.index(cpu), order.index(build))
    assert usable_isa("amx", "avx2") == "avx2" and usable_isa("avx2", "amx") == "avx2"
    assert usable_isa("avx512", None) == "avx512"  # a native build uses all of it
    build_isa.embedded_build_features.cache_clear()


def test_system_info_line_is_parsed():
    from sizing.live.build_isa import parse_system_info

    line = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | AVX512 = 0 | REPACK = 1 | "
    feats = parse_system_info(line)
    assert "AVX2" in feats and "AVX512" not in feats and isa_from_flags(feats) == "avx2"


def test_repacked_types_depend_on_the_isa():
    assert {"Q4_0", "Q4_K", "IQ4_NL"} <= repacked_types("avx2")
    assert "Q2_K" in repacked_types("avx512") and "Q2_K" not in repacked_types("avx2")
    assert repacked_types("neon") == frozenset() and "Q4_K" not in repacked_types("neon-dotprod")
    assert kernel_class("Q4_K", "avx2") == "repacked"
    assert kernel_class("Q8_0", "avx2") == "sgemm"
    assert kernel_class("Q4_1", "avx2") == "legacy" and kernel_class("Q6_K", "avx2") == "kquant"
    assert kernel_class("Q4_K", "neon") == "kquant" and kernel_class("Q4_0", "generic") == "legacy"


@pytest.mark.parametrize("fixture", ["smollm2_gguf", "gemma3_gguf"])
def test_matrix_mix_of_real_files(fixture, request):
    g = read_gguf(request.getfixturevalue(fixture))
    mix = dict(model_traffic(g.arch, g.tensors).matrix_types)
    assert math.isclose(sum(mix.values()), 1.0, rel_tol=1e-9)
    file_types = {t.ggml_type for t in g.tensors if len(t.shape) >= 2}
    assert set(mix) <= file_types and "F32" not in mix  # norms are not matrices


def test_prefill_factor_follows_the_types_and_the_isa(smollm2_gguf):
    speeds = dict(load_calibration().get("cpu").prefill_kernel_speed)
    assert speeds.get("repacked") == 1.0 and 0 < speeds["legacy"] < speeds["sgemm"] <= 1.0
    assert prefill_kernel_factor([("Q4_0", 1.0)], "avx2", speeds) == 1.0
    assert prefill_kernel_factor([("Q4_1", 1.0)], "avx2", speeds) == pytest.approx(speeds["legacy"])
    assert prefill_kernel_factor([("F16", 1.0)], "avx2", speeds) == pytest.approx(speeds["F16"])  # a type's own
    mixed = prefill_kernel_factor([("Q4_0", 0.8), ("Q4_1", 0.2)], "avx2", speeds)
    assert speeds["legacy"] < mixed < 1.0
    assert prefill_kernel_factor([], "avx2", speeds) == 1.0 == prefill_kernel_factor([("Q4_1", 1.0)], "avx2", None)
    # the real SmolLM2 file (Q4_1 blocks, Q8_0 embeddings) multiplies slower than repacked weights
    g = read_gguf(smollm2_gguf)
    tr = model_traffic(g.arch, g.tensors)
    cpu = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=20.0, threads=2, family="avx2")
    as_q4_0 = tr.model_copy(update={"matrix_types": (("Q4_0", 1.0),)})
    calib = load_calibration()
    slow = estimate_speed([single_device_work(tr, cpu)], calib, ctx=512).prefill_tokens_per_s.expected
    fast = estimate_speed([single_device_work(as_q4_0, cpu)], calib, ctx=512).prefill_tokens_per_s.expected
    assert slow < fast


@pytest.mark.parametrize("fixture", ["smollm2_gguf", "gemma3_gguf"])
def test_a_decoded_token_reads_its_blocks_and_its_output_projection_by_type(fixture, request):
    """The bytes a token reads, split by the file's own tensor types: both packaged models tie
    their output projection to the embedding, so its type (Q8_0 in both files) is read in full
    each token, next to the blocks' types."""
    from gguf import GGUFReader

    path = request.getfixturevalue(fixture)
    g = read_gguf(path)
    tr = model_traffic(g.arch, g.tensors)
    read = dict(tr.read_types)
    assert math.isclose(sum(read.values()), 1.0, rel_tol=1e-9)
    # byte counts as the gguf library reads them from the file
    raw = [(t.name, t.tensor_type.name, int(t.n_bytes), len(t.shape)) for t in GGUFReader(path).tensors]
    embd = next((typ, n) for name, typ, n, _ in raw if name == "token_embd.weight")
    assert not any(name == "output.weight" for name, *_ in raw) and embd[0] in read
    blocks: dict[str, int] = {}
    for name, typ, n, dims in raw:
        if name.startswith("blk.") and dims >= 2:
            blocks[typ] = blocks.get(typ, 0) + n
    total = embd[1] + sum(blocks.values())
    for typ, share in read.items():
        want = (blocks.get(typ, 0) + (embd[1] if typ == embd[0] else 0)) / total
        assert share == pytest.approx(want, rel=1e-6), typ


def test_decode_streams_each_type_at_its_measured_speed_where_threads_bind(smollm2_gguf):
    """On a thread-bound CPU the decode rate is the repacked weights' per-thread rate scaled by
    the model's types (bench/cpu_kernels.py measured Q4_1 and Q5_0 slower per byte than
    repacked Q4_0, Q8_0 and F16 faster); where RAM binds, the types do not matter."""
    from sizing.core.speed.cpu import decode_kernel_factor
    from sizing.core.speed.estimate import effective_bandwidth, work_bandwidth

    calib = load_calibration()
    speeds = dict(calib.get("cpu", "cpu", "avx2").decode_kernel_speed)
    measured = {"Q4_1", "Q5_0", "Q6_K", "Q8_0", "F16"}
    assert speeds.get("repacked") == 1.0 and measured <= set(speeds)
    assert speeds["Q4_1"] < 1.0 < speeds["Q8_0"]
    assert decode_kernel_factor([("Q4_K", 1.0)], "avx2", speeds.items()) == 1.0  # repacked on AVX2
    assert decode_kernel_factor([("Q4_1", 1.0)], "avx2", speeds.items()) == pytest.approx(speeds["Q4_1"])
    assert decode_kernel_factor([("IQ3_S", 1.0)], "avx2", speeds.items()) == pytest.approx(speeds["legacy"])
    half = decode_kernel_factor([("Q4_0", 0.5), ("Q8_0", 0.5)], "avx2", speeds.items())
    assert half == pytest.approx(1 / (0.5 + 0.5 / speeds["Q8_0"]))
    assert decode_kernel_factor([], "avx2", speeds.items()) == 1.0

    g = read_gguf(smollm2_gguf)  # Q4_1 blocks, a Q8_0 output projection
    tr = model_traffic(g.arch, g.tensors)
    factor = decode_kernel_factor(tr.read_types, "avx2", speeds.items())
    few = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=400.0, threads=2, family="avx2")
    many = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=20.0, threads=64, family="avx2")
    assert work_bandwidth(single_device_work(tr, few), calib) == pytest.approx(effective_bandwidth(few, calib) * factor)
    assert work_bandwidth(single_device_work(tr, many), calib) == effective_bandwidth(many, calib)
    # so SmolLM2 decodes slower on two threads than the same bytes as repacked weights would
    as_q4_0 = tr.model_copy(update={"read_types": (("Q4_0", 1.0),)})
    slow = estimate_speed([single_device_work(tr, few)], calib, ctx=512).decode_tokens_per_s.expected
    fast = estimate_speed([single_device_work(as_q4_0, few)], calib, ctx=512).decode_tokens_per_s.expected
    assert slow < fast


def test_a_machines_fitted_line_keeps_the_per_type_speeds(smollm2_gguf):
    """This machine's fitted decode line (bandwidth + per-token cost) is the repacked weights'
    rate, each run's bytes having been counted at its types' speed: SmolLM2's Q4_1 then reads
    as much slower than the line's bandwidth as the per-type speeds say before calibrating,
    and a one-factor calibration keeps them too."""
    from sizing.core.speed.estimate import effective_bandwidth, work_bandwidth
    from sizing.core.speed.machine import MachineFactors, apply_factors

    calib = load_calibration()
    g = read_gguf(smollm2_gguf)
    tr = model_traffic(g.arch, g.tensors)
    few = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=400.0, threads=2, family="avx2")
    public = work_bandwidth(single_device_work(tr, few), calib) / effective_bandwidth(few, calib)
    assert public < 0.9  # Q4_1 streams slower than repacked Q4_0 (a thread-bound CPU)
    line = MachineFactors(effective_bandwidth_gbs=20.0, decode_overhead_ms=6.0)
    rate, fitted = apply_factors(few, calib, line)
    assert effective_bandwidth(rate, fitted) == pytest.approx(20e9)
    assert work_bandwidth(single_device_work(tr, rate), fitted) == pytest.approx(20e9 * public)
    rate, scaled = apply_factors(few, calib, MachineFactors(bandwidth_factor=1.5))
    assert work_bandwidth(single_device_work(tr, rate), scaled) < effective_bandwidth(rate, scaled)


@pytest.mark.parametrize("isa", ["avx2", "avx512", "neon-i8mm"])
def test_a_calibrated_cpu_keeps_its_attention_rate(isa, smollm2_gguf):
    """A CPU entry without attention figures of its own (an ISA whose public rows never ran
    thread-bound) borrows the CPU backend's; calibrating the machine replaces the backend's
    entry too, so the borrowed figures must come along (an AVX-512 machine's live check once
    failed on a missing attention time after a fitted line)."""
    from sizing.core.speed.estimate import cpu_attention_seconds
    from sizing.core.speed.machine import MachineFactors, apply_factors

    calib = load_calibration()
    g = read_gguf(smollm2_gguf)
    tr = model_traffic(g.arch, g.tensors)
    dev = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=30.0, threads=2, clock_ghz=2.6, family=isa)
    base = cpu_attention_seconds(single_device_work(tr, dev), calib, 512)
    assert base is not None and base > 0
    for factors in (
        MachineFactors(effective_bandwidth_gbs=20.0, decode_overhead_ms=6.0),
        MachineFactors(bandwidth_factor=0.8),
        MachineFactors(effective_bandwidth_gbs=20.0, decode_overhead_ms=6.0, attention_factor=2.0),
    ):
        rate, fitted = apply_factors(dev, calib, factors)
        got = cpu_attention_seconds(single_device_work(tr, rate), fitted, 512)
        assert got is not None and got > 0, factors
        if factors.attention_factor:
            assert got == pytest.approx(base / factors.attention_factor)
        elif factors.effective_bandwidth_gbs:
            assert got == pytest.approx(base)  # a line without an attention fit keeps the default


def test_the_decode_kernel_table_is_the_one_measured_on_the_cpus_maker(smollm2_gguf):
    """One llama.cpp build ranks the weight types differently on an Intel core than on a Zen 4
    one (bench/cpu_kernels.py, one thread each: Q4_1 0.68 of repacked Q4_0's bytes per second
    on the EPYC, 1.07 on the Xeon). A CPU whose CPUID vendor has its own measured table decodes
    at that table's speeds; another or an unknown one keeps the default table."""
    from sizing.core.speed.cpu import decode_kernel_factor
    from sizing.core.speed.estimate import effective_bandwidth, work_bandwidth

    calib = load_calibration()
    entry = calib.get("cpu", "cpu", "avx2")
    default = dict(entry.decode_kernel_speed)
    intel = dict(entry.decode_speeds_for("GenuineIntel"))
    assert intel.get("repacked") == 1.0 and intel != default
    assert dict(entry.decode_speeds_for("AuthenticAMD")) == default
    assert dict(entry.decode_speeds_for(None)) == default
    # every CPU entry carries the vendor tables (an ISA's entry is what a detected CPU looks up)
    for key, c in calib.backends.items():
        if key.split("/")[0] == "cpu":
            assert dict(c.decode_speeds_for("GenuineIntel")) == intel, key

    g = read_gguf(smollm2_gguf)  # Q4_1 blocks, a Q8_0 output projection
    tr = model_traffic(g.arch, g.tensors)
    speeds: dict[str, float] = {}
    for vendor, table in (("GenuineIntel", intel), ("AuthenticAMD", default), (None, default)):
        dev = DeviceRate(
            name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=400.0, threads=2, family="avx2", cpu_vendor=vendor
        )
        want = effective_bandwidth(dev, calib) * decode_kernel_factor(tr.read_types, "avx2", table.items())
        speeds[str(vendor)] = work_bandwidth(single_device_work(tr, dev), calib)
        assert speeds[str(vendor)] == pytest.approx(want), vendor
    assert speeds["GenuineIntel"] != speeds["AuthenticAMD"] == speeds["None"]


def test_a_repacked_type_measured_apart_streams_at_its_own_speed(gemma3_gguf):
    """AVX2 builds repack Q4_K as well as Q4_0, but on the Xeon measured (bench/cpu_kernels.py
    --types Q4_0,Q4_K,Q6_K) an interleaved Q4_K GEMV streams 1.65x Q4_0's bytes a second. A
    repacked type the table names is read at its entry; one it does not name keeps repacked
    Q4_0's 1; on an ISA that does not repack it, the type is a K-quant dot product again and
    the repacked kernel's entry does not apply."""
    from sizing.core.speed.cpu import decode_kernel_factor

    entry = load_calibration().get("cpu", "cpu", "avx2")
    intel = dict(entry.decode_speeds_for("GenuineIntel"))
    assert kernel_class("Q4_K", "avx2") == "repacked" and intel["Q4_K"] > 1.0
    tr = model_traffic(*(lambda g: (g.arch, g.tensors))(read_gguf(gemma3_gguf)))
    mix = dict(tr.read_types)
    assert mix.get("Q4_K", 0) > 0  # the real Gemma-3-270M Q4_K_M reads some Q4_K each token
    unnamed = {k: v for k, v in intel.items() if k != "Q4_K"}
    with_entry = decode_kernel_factor(mix.items(), "avx2", intel.items())
    without = decode_kernel_factor(mix.items(), "avx2", unnamed.items())
    assert with_entry > without
    # only Q4_K moved: alone, a Q4_K matrix reads at its entry where it is repacked; where it is
    # not (NEON, a generic build, repacking off), the entry, a repacked kernel's, does not hold:
    # its plain kernel's, measured with repacking off, does, else K-quants' speed
    assert decode_kernel_factor([("Q4_K", 1.0)], "avx2", intel.items()) == pytest.approx(intel["Q4_K"])
    assert decode_kernel_factor([("Q4_K", 1.0)], "avx2", unnamed.items()) == 1.0
    assert intel["Q4_K/plain"] < intel["Q4_K"]  # measured: the interleaved GEMV is the faster
    no_plain = {k: v for k, v in intel.items() if not k.endswith("/plain")}
    for isa in ("neon", "generic"):
        assert decode_kernel_factor([("Q4_K", 1.0)], isa, intel.items()) == pytest.approx(intel["Q4_K/plain"])
        assert decode_kernel_factor([("Q4_K", 1.0)], isa, no_plain.items()) == pytest.approx(intel["kquant"])
    plain = decode_kernel_factor([("Q4_K", 1.0)], "avx2", intel.items(), repacked=False)
    assert plain == pytest.approx(intel["Q4_K/plain"])
    # MXFP4's plain dot product is built as Q4_0's (a nibble table lookup for the offset), so it
    # takes plain Q4_0's measured speed, not the legacy class's
    assert intel["Q4_0/plain"] != intel["legacy"]
    mxfp4 = decode_kernel_factor([("MXFP4", 1.0)], "avx2", intel.items(), repacked=False)
    assert mxfp4 == pytest.approx(intel["Q4_0/plain"])
    # a plain type's entry holds wherever it runs its dot product
    assert decode_kernel_factor([("Q8_0", 1.0)], "neon", intel.items()) == pytest.approx(intel["Q8_0"])


def test_a_detected_cpu_carries_its_vendor_to_the_speed_model():
    """The CPUID vendor read from /proc/cpuinfo reaches the CPU device a live check predicts
    with and the host of this machine's placement hardware."""
    import platform

    from sizing.hardware.db import load_gpus
    from sizing.hardware.detect import detect_machine
    from sizing.hardware.this_machine import cpu_rate, hardware_from_machine

    m = detect_machine(probe_bandwidth=True)
    if platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64"):
        assert m.cpu.vendor in ("GenuineIntel", "AuthenticAMD")
    rate = cpu_rate(m)
    assert rate is not None and rate.cpu_vendor == m.cpu.vendor
    if not m.gpus:
        hw = hardware_from_machine(m, load_gpus())
        assert hw.host.rate().cpu_vendor == m.cpu.vendor


def test_a_vendor_decode_table_for_an_unknown_maker_is_refused(tmp_path):
    """A vendor table must name a CPUID vendor the detection reports, and be relative to
    repacked weights: the data file, entry and field are named."""
    import yaml

    from harness.speed_fit import BENCH_FILE, load_bench
    from sizing.errors import SizingError

    raw = yaml.safe_load(BENCH_FILE.read_text())
    table = raw["cpu_kernels"]["decode_by_vendor"]["GenuineIntel"]
    raw["cpu_kernels"]["decode_by_vendor"] = {"Intel": table}
    bad = tmp_path / "llama_bench.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(SizingError, match=r"llama_bench\.yaml.*cpu_kernels.*decode_by_vendor"):
        load_bench(bad)
    raw["cpu_kernels"]["decode_by_vendor"] = {"GenuineIntel": {**table, "decode_speeds": {"Q8_0": 1.6}}}
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(SizingError, match=r"decode_by_vendor.*GenuineIntel.*decode_speeds"):
        load_bench(bad)


def test_a_decode_speed_not_relative_to_repacked_weights_is_refused(tmp_path):
    """The bench data names its file, entry and field when a decode speed is malformed."""
    import yaml

    from harness.speed_fit import BENCH_FILE, load_bench
    from sizing.errors import SizingError

    raw = yaml.safe_load(BENCH_FILE.read_text())
    raw["cpu_kernels"]["decode_speeds"] = {"Q8_0": 1.2}  # no repacked = 1.0 reference
    bad = tmp_path / "llama_bench.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(SizingError, match=r"llama_bench\.yaml.*cpu_kernels.*decode_speeds"):
        load_bench(bad)


def test_cpu_calibration_is_looked_up_by_isa():
    calib = load_calibration()
    assert {"cpu/avx2", "cpu/avx512"} <= set(calib.backends)
    for isa in ("avx2", "avx512"):
        dev = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=60.0, threads=8, family=isa)
        assert calib.key("cpu", "cpu", isa) == f"cpu/{isa}"
        assert calib.for_device(dev) == calib.backends[f"cpu/{isa}"]
    # an ISA without rows of its own borrows the CPU backend's factors
    assert calib.key("cpu", "cpu", "neon-i8mm") == "cpu"


def test_this_machines_host_carries_its_isa():
    from sizing.hardware.db import load_gpus
    from sizing.hardware.detect import detect_machine
    from sizing.hardware.detect.machine import BandwidthProbe
    from sizing.hardware.this_machine import hardware_from_machine

    m = detect_machine()
    probe = BandwidthProbe(
        gbs=20.0, min_gbs=20.0, max_gbs=20.0, spread_pct=0.0, runs=1, buffer_bytes=1, seconds=0.1, method="test"
    )
    m = m.model_copy(update={"cpu": m.cpu.model_copy(update={"bandwidth": probe})})
    hw = hardware_from_machine(m, load_gpus())
    assert hw.host.family == isa_from_flags(m.cpu.flags)


def test_isa_entries_keep_the_backends_ram_efficiency():
    """How much of its RAM bandwidth a machine reaches belongs to its memory system: an ISA
    whose public rows all ran a few threads of a big CPU (never RAM-bound) must not pull it
    down, and one whose rows never ran thread-bound still gets a per-thread limit."""
    calib = load_calibration()
    cpu = calib.backends["cpu"]
    for key, c in calib.backends.items():
        if key.startswith("cpu/"):
            assert c.decode_efficiency == cpu.decode_efficiency, key
    few = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=400.0, threads=2, family="avx512")
    from sizing.core.speed.estimate import effective_bandwidth

    assert effective_bandwidth(few, calib) < 400e9 * cpu.decode_efficiency  # two threads cannot drain 400 GB/s


def test_this_machines_clock_is_what_the_os_states_or_its_generations_boost():
    """cpufreq's maximum where a frequency driver runs; else the clock /proc/cpuinfo reports
    (a VM's nominal clock), unless the CPUID names a generation data/cpu_boost.yaml lists,
    whose boost clock the cores run at."""
    from pathlib import Path

    from sizing.core.cpu_clock import generation_of
    from sizing.hardware.detect import detect_machine
    from sizing.hardware.detect.cpu import parse_cpuid

    cpu = detect_machine().cpu
    clock = cpu.clock_ghz
    max_freq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if max_freq.is_file():
        assert clock == pytest.approx(int(max_freq.read_text()) / 1e6, rel=0.01)
        return
    text = open("/proc/cpuinfo").read()
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    gen = generation_of(parse_cpuid(text))
    if gen is not None and gen.boost_ghz > max(mhz) / 1000:
        assert clock == gen.boost_ghz and gen.source in cpu.clock_basis
    else:
        assert mhz and clock is not None and min(mhz) / 1000 * 0.9 <= clock <= max(mhz) / 1000 * 1.1


def test_thread_bound_decode_follows_the_clock_and_stops_at_the_ram():
    """Few threads of a CPU are limited by what each core multiplies per cycle: twice the
    clock, twice the rate, until the RAM bandwidth caps it; without a clock, the per-thread
    rate fitted at the public CPUs' own clocks."""
    from sizing.core.speed.estimate import effective_bandwidth, thread_decode_gbs

    calib = load_calibration()
    cpu = calib.backends["cpu"]
    assert cpu.decode_gb_per_ghz and cpu.decode_gbs_per_thread

    def rate(threads: int, clock: float | None, bw: float = 400.0) -> float:
        dev = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=bw, threads=threads, clock_ghz=clock)
        return effective_bandwidth(dev, calib)

    assert rate(1, 4.0) == pytest.approx(2 * rate(1, 2.0))
    assert rate(2, 3.0) == pytest.approx(2 * rate(1, 3.0))
    assert rate(64, 2.0, bw=50.0) == rate(64, 4.0, bw=50.0) == pytest.approx(50e9 * cpu.decode_efficiency)
    unknown = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=400.0, threads=1)
    assert thread_decode_gbs(unknown, calib) == cpu.decode_gbs_per_thread
    # the per-GHz rate is fitted to the public rows, and their clocks lie where the fitted
    # per-thread rate says a thread runs
    clocks = [d.clock_ghz for d in load_bench().devices.values() if d.kind == "cpu" and d.clock_ghz]
    assert min(clocks) <= cpu.decode_gbs_per_thread / cpu.decode_gb_per_ghz <= max(clocks)


def test_the_detected_clock_reaches_the_speed_model():
    from sizing.hardware.db import load_gpus
    from sizing.hardware.detect import detect_machine
    from sizing.hardware.detect.machine import BandwidthProbe
    from sizing.hardware.this_machine import hardware_from_machine

    m = detect_machine()
    probe = BandwidthProbe(
        gbs=20.0, min_gbs=20.0, max_gbs=20.0, spread_pct=0.0, runs=1, buffer_bytes=1, seconds=0.1, method="test"
    )
    m = m.model_copy(update={"cpu": m.cpu.model_copy(update={"bandwidth": probe, "clock_ghz": 2.5})})
    hw = hardware_from_machine(m, load_gpus())
    assert hw.host.rate().clock_ghz == 2.5


def test_the_composition_carries_the_weight_types_to_the_cpu_prefill():
    """sizing.estimate places a model on a CPU machine; its prompt speed per FLOP follows the
    weight types (legacy Q4_1 dot products vs repacked Q4_0)."""
    import sizing
    from sizing.core.machine import cpu_hardware

    hw = cpu_hardware("test CPU", ram_bytes=64 << 30, bandwidth_gbs=60.0, threads=8, isa="avx2")
    rates = {}
    for quant in ("Q4_0", "Q4_1"):
        a = sizing.estimate("HuggingFaceTB/SmolLM2-135M-Instruct", quant, 2048, hardware=hw, offline=True)
        rates[quant] = a.prefill_tokens_per_s.expected
    speeds = dict(load_calibration().get("cpu", "cpu", "avx2").prefill_kernel_speed)
    assert rates["Q4_1"] < rates["Q4_0"]
    assert rates["Q4_1"] / rates["Q4_0"] < (1 + speeds["legacy"]) / 2  # most of its FLOPs take the slow path


def test_a_prompt_multiplies_by_the_output_projection_once(gemma3_gguf):
    """llama.cpp computes logits for a prompt's last token only: on a CPU, a 262k-token
    vocabulary (most of Gemma-3-270M's FLOPs) barely slows prompt processing."""
    from sizing.core.speed.estimate import prefill_seconds

    g = read_gguf(gemma3_gguf)
    cpu = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=20.0, threads=2, family="avx2")
    w = single_device_work(model_traffic(g.arch, g.tensors), cpu)
    assert w.output_flops_per_token > 0.5 * w.flops_per_token  # the tied 262k x 640 output
    calib = load_calibration()
    blocks_only = w.model_copy(
        update={"flops_per_token": w.flops_per_token - w.output_flops_per_token, "output_flops_per_token": 0.0}
    )
    with_output = prefill_seconds([w], calib, 512)
    assert with_output == pytest.approx(prefill_seconds([blocks_only], calib, 512), rel=0.05)
    every_token = w.model_copy(update={"output_flops_per_token": 0.0})  # as if each token needed logits
    assert prefill_seconds([every_token], calib, 512) > 2 * with_output


def test_the_apps_estimate_streams_each_type_at_its_speed_as_a_live_check_does(smollm2_gguf):
    """The app's placed CPU work carries the model's weight types, so on a thread-bound CPU
    its decode is the one a live check predicts for the same machine: SmolLM2's Q4_1 blocks
    read slower than repacked weights (the placement once merged its work without the types,
    and every CPU estimate in the app read all types at the repacked rate)."""
    from sizing.answer import estimate
    from sizing.core.machine import cpu_hardware

    hw = cpu_hardware("2-thread CPU", ram_bytes=8 << 30, bandwidth_gbs=400.0, threads=2, isa="avx2", clock_ghz=3.7)
    app = estimate(str(smollm2_gguf), ctx=512, hardware=hw, backend="cpu", offline=True)
    g = read_gguf(smollm2_gguf)
    tr = model_traffic(g.arch, g.tensors)
    rate = hw.host.rate()
    alone = estimate_speed([single_device_work(tr, rate)], load_calibration(), ctx=512)
    as_repacked = estimate_speed(
        [single_device_work(tr.model_copy(update={"read_types": (("Q4_0", 1.0),)}), rate)], load_calibration(), ctx=512
    )
    assert app.decode_tokens_per_s.expected == pytest.approx(alone.decode_tokens_per_s.expected, rel=1e-3)
    assert app.decode_tokens_per_s.expected < 0.95 * as_repacked.decode_tokens_per_s.expected


def test_host_weights_beside_a_gpu_with_a_pinned_host_buffer_run_unrepacked():
    """llama.cpp offers a host layer's weights the first GPU's pinned host buffer before
    CPU_REPACK (llama-model.cpp make_cpu_buft_list), so beside a CUDA or Vulkan GPU they are
    multiplied by the plain dot products; Metal has no host buffer type, so there they stay
    repacked. --no-repack takes repacking off a CPU-only run too. On an Intel CPU whose two
    threads bind, plain Q4_0 streams slower than repacked Q4_0 (bench/cpu_kernels.py --plain)."""
    from sizing.core.machine import cpu_hardware, custom_machine, host_spec
    from sizing.core.solver import solve
    from sizing.sources.catalog import load_catalog

    arch = load_catalog().get("meta-llama/Llama-3.1-8B-Instruct")
    cal = load_calibration()
    # an Intel host whose two threads bind, not its RAM (the Intel table measured plain Q4_0)
    host = host_spec(ram_gb=64, bandwidth_gbs=200, threads=2).model_copy(
        update={"cpu_vendor": "GenuineIntel", "isa": "avx2", "clock_ghz": 2.6}
    )

    def host_work(backend: str, **kw):
        hw = custom_machine(memory_gb=3, bandwidth_gbs=400, backend=backend, host=host)
        plan = solve(arch, "Q4_0", 4096, hw, cal, **kw)
        assert plan.fits and 0 < plan.placement.gpu_layers < arch.n_layers  # a split
        return plan, next(w for w in plan.placement.works if w.device.kind == "cpu")

    _, cuda = host_work("cuda")
    _, vulkan = host_work("vulkan")
    _, metal = host_work("metal")
    assert not cuda.repacked and not vulkan.repacked and metal.repacked
    _, cuda_off = host_work("cuda", repack=False)
    _, metal_off = host_work("metal", repack=False)
    assert not cuda_off.repacked and not metal_off.repacked
    # the same bytes on the same threads: the plain Q4_0 kernel reads them slower
    assert work_bandwidth(cuda, cal) < work_bandwidth(metal, cal)
    assert work_bandwidth(metal_off, cal) == pytest.approx(work_bandwidth(cuda, cal))
    assert "not repacked" in read_rate_basis(cuda, cal) and "not repacked" not in read_rate_basis(metal, cal)

    cpu_only = cpu_hardware(
        "this CPU",
        ram_bytes=64 * 2**30,
        bandwidth_gbs=200,
        threads=2,
        isa="avx2",
        clock_ghz=2.6,
        cpu_vendor="GenuineIntel",
    )
    on, off = (solve(arch, "Q4_0", 4096, cpu_only, cal, repack=r) for r in (True, False))
    assert on.speed and off.speed and on.placement.works[0].repacked and not off.placement.works[0].repacked
    assert off.speed.decode_tokens_per_s.expected < on.speed.decode_tokens_per_s.expected


def test_a_tables_plain_kernel_entries_do_not_rename_it():
    """A live check runs on the CPU alone with repacking on, so a table's plain-kernel entries
    never weighed a stored run: measuring one keeps the table's name and digest (stored runs
    keep their decode), while any entry a CPU-only run reads renames it."""
    from sizing.core.speed.estimate import LEGACY_TABLE_DIGESTS, kernel_table_digest

    entry = load_calibration().get("cpu")
    intel = dict(entry.decode_speeds_for("GenuineIntel"))
    assert any(k.endswith("/plain") for k in intel)
    without_plain = {k: v for k, v in intel.items() if not k.endswith("/plain")}
    assert kernel_table_digest(intel.items()) == kernel_table_digest(without_plain.items())
    assert entry.decode_table_name("GenuineIntel") == f"GenuineIntel#{kernel_table_digest(without_plain.items())}"
    assert kernel_table_digest({**intel, "Q8_0": intel["Q8_0"] + 0.01}.items()) != kernel_table_digest(intel.items())
    assert LEGACY_TABLE_DIGESTS["GenuineIntel"] != kernel_table_digest(intel.items())  # it gained Q4_K since


def test_an_unmeasured_plain_kernel_is_never_faster_than_the_repacked_one():
    """Where only the buffer keeps a type plain (beside a GPU, --no-repack) and its plain kernel
    was not measured, its kernel class's speed stands in, capped at its repacked speed:
    llama.cpp repacks a type because the interleaved kernel is the faster (measured for Q4_0
    and Q4_K on the Intel core). An ISA that never repacks it keeps the class's own speed."""
    from sizing.core.speed.cpu import decode_kernel_factor, kernel_class

    default = dict(load_calibration().get("cpu").decode_kernel_speed)
    assert not any(k.endswith("/plain") for k in default)  # the Zen 4 table measured none
    assert default["kquant"] > default.get("Q4_K", 1.0)  # so the class alone would be faster
    plain = decode_kernel_factor([("Q4_K", 1.0)], "avx2", default.items(), repacked=False)
    assert plain == pytest.approx(min(default["kquant"], default.get("Q4_K", 1.0)))
    assert decode_kernel_factor([("Q4_K", 1.0)], "neon", default.items()) == pytest.approx(default["kquant"])
    # MXFP4 without a measured plain Q4_0 to go by: its class, the legacy dot products
    assert kernel_class("MXFP4", "avx2", repacked=False) == "legacy"
    mx = decode_kernel_factor([("MXFP4", 1.0)], "avx2", default.items(), repacked=False)
    assert mx == pytest.approx(default["legacy"])
