"""The CPU's vector ISA as llama.cpp's CPU backend uses it, and which weights it repacks — pure.

llama.cpp's CPU kernels are compiled per instruction set: the same core runs its
quantised dot products and matrix multiplications two to four times faster with
AVX-512 or AMX than with AVX2, and ARM cores differ the same way between plain NEON,
the dot-product extension, int8 matrix multiply (I8MM) and SVE. Two things decide which
kernels run: what the CPU has (``/proc/cpuinfo`` flags, read by the detection adapter and
handed here as data) and what the llama.cpp build was compiled for (a portable wheel
built without ``-march=native`` stops at AVX2 on a CPU that has AMX). The ISA that runs is
the lower of the two, and the speed model looks its factors up under it
(``cpu/<isa>`` entries of the calibration, fitted to llama-bench rows of CPUs of that ISA).

The CPU_REPACK buffer (ggml-cpu ``repack.cpp``, ``ggml_repack_get_optimal_repack_type``)
copies matrices of some types into interleaved layouts whose GEMM/GEMV kernels read
several rows at once; which types depends on the ISA. Repacked weights are held twice
(memory: ``sizing.core.memory.estimate``) and multiply faster; :func:`repacked_share`
says how much of a model's matrix bytes take that path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

CpuIsa = Literal["generic", "avx", "avx2", "avx512", "amx", "neon", "neon-dotprod", "neon-i8mm", "sve"]

# Within one family, each ISA includes the ones before it.
X86_ORDER: tuple[CpuIsa, ...] = ("generic", "avx", "avx2", "avx512", "amx")
ARM_ORDER: tuple[CpuIsa, ...] = ("generic", "neon", "neon-dotprod", "neon-i8mm", "sve")

ISA_LABELS: dict[str, str] = {
    "generic": "no SIMD kernels",
    "avx": "AVX",
    "avx2": "AVX2 + FMA",
    "avx512": "AVX-512",
    "amx": "AVX-512 + AMX",
    "neon": "NEON",
    "neon-dotprod": "NEON + dot product",
    "neon-i8mm": "NEON + I8MM",
    "sve": "SVE",
}


def isa_from_flags(flags: Iterable[str]) -> CpuIsa:
    """The highest llama.cpp kernel tier a CPU's feature flags allow.

    ``flags`` are the names ``sizing.hardware.detect.cpu`` reports (AVX2, AVX512F,
    AVX512BW, AMX_INT8, NEON, DOTPROD, I8MM, SVE, ...), or those of llama.cpp's own
    ``system_info`` line (``AVX512 = 1``, ``AMX_INT8 = 1``, ``MATMUL_INT8 = 1``), which name
    what a build was compiled for. llama.cpp's AVX-512 kernels need F and BW; its AMX
    kernels need AMX_INT8 on top of AVX-512; its AVX2 kernels also use FMA and F16C.
    """
    f = {x.upper() for x in flags}
    avx512 = ("AVX512F" in f and "AVX512BW" in f) or "AVX512" in f
    if avx512 and "AMX_INT8" in f:
        return "amx"
    if avx512:
        return "avx512"
    if "AVX2" in f and "FMA" in f:
        return "avx2"
    if "AVX" in f:
        return "avx"
    if "SVE" in f or "SVE2" in f:
        return "sve"
    if "I8MM" in f or "MATMUL_INT8" in f:
        return "neon-i8mm"
    if "DOTPROD" in f:
        return "neon-dotprod"
    if "NEON" in f:
        return "neon"
    return "generic"


def vendor_from_name(name: str | None) -> str | None:
    """The CPUID vendor an x86 CPU's marketing name implies ('Intel(R) Core(TM) i7-…' →
    'GenuineIntel', 'AMD Ryzen …' → 'AuthenticAMD'); None for any other name. For where
    /proc/cpuinfo is not there to read (Windows, macOS) and for the public rows' devices."""
    first = (name or "").strip().split(" ")[0].lower()
    if first.startswith("intel"):
        return "GenuineIntel"
    if first.startswith("amd"):
        return "AuthenticAMD"
    return None


def _rank(isa: str) -> tuple[int, int]:
    for fam, order in enumerate((X86_ORDER, ARM_ORDER)):
        if isa in order:
            return fam, order.index(isa)
    return -1, 0


def usable_isa(cpu: str, build: str | None) -> str:
    """The ISA whose kernels run: what the CPU has, capped by what the build was compiled
    for (None: a native build, which uses all of the CPU's)."""
    if build is None:
        return cpu
    (fc, rc), (fb, rb) = _rank(cpu), _rank(build)
    if fc != fb:  # a build for another family cannot run here; trust the CPU's own
        return cpu
    return cpu if rc <= rb else build


# ggml-cpu repack.cpp (ggml_repack_get_optimal_repack_type, llama.cpp b6000-era and
# later): the types each ISA repacks into interleaved layouts. AVX2 (and every x86 tier
# above it) repacks Q4_0, Q4_K and IQ4_NL into 8-row groups, and AVX-512 also Q2_K; ARM
# with the dot product repacks Q4_0 and IQ4_NL into 4-row groups, and with I8MM / SVE Q4_0
# into its int8-matmul layout as well. MXFP4 follows Q4_0's path on x86.
REPACK_BY_ISA: dict[str, frozenset[str]] = {
    "generic": frozenset(),
    "avx": frozenset(),
    "avx2": frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}),
    "avx512": frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4", "Q2_K"}),
    "amx": frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4", "Q2_K"}),
    "neon": frozenset(),
    "neon-dotprod": frozenset({"Q4_0", "IQ4_NL"}),
    "neon-i8mm": frozenset({"Q4_0", "IQ4_NL"}),
    "sve": frozenset({"Q4_0", "IQ4_NL"}),
}


def repacked_types(isa: str | None) -> frozenset[str]:
    """Tensor types llama.cpp's CPU_REPACK buffer takes on this ISA (AVX2's when unknown)."""
    return REPACK_BY_ISA.get(isa or "avx2", REPACK_BY_ISA["avx2"])


def repacked_share(type_bytes: dict[str, float], isa: str | None) -> float:
    """Share of the matrix bytes (``{ggml type: bytes}``) whose kernels run repacked."""
    total = sum(type_bytes.values())
    if total <= 0:
        return 0.0
    kinds = repacked_types(isa)
    return sum(b for t, b in type_bytes.items() if t in kinds) / total


# How llama.cpp's CPU backend multiplies a prompt batch by a matrix, per type: a
# repacked type through its interleaved GEMM (above); F32/F16/BF16, Q8_0, Q4_0, Q5_0 and
# IQ4_NL through llamafile's tinyBLAS (ggml-cpu/llamafile/sgemm.cpp); every other type
# row by row through its dot product with the activations quantised to Q8_K (the
# K-quants, whose AVX2/NEON dot products are tuned) or to Q8_0/Q8_1 (Q4_1, Q5_1 and the
# other legacy and IQ types). The paths differ by up to 3x in prompt speed per FLOP.
SGEMM_TYPES = frozenset({"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "IQ4_NL"})
KQUANT_TYPES = frozenset({"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"})
KernelClass = Literal["repacked", "sgemm", "kquant", "legacy"]


def kernel_class(ggml_type: str, isa: str | None, repacked: bool = True) -> KernelClass:
    """Which CPU matrix-multiplication path a weight of ``ggml_type`` takes on ``isa``
    (``repacked``: whether its buffer is CPU_REPACK's, as it is unless a GPU's pinned host
    buffer holds it or repacking is off)."""
    if repacked and ggml_type in repacked_types(isa):
        return "repacked"
    if ggml_type in SGEMM_TYPES and (isa or "avx2") != "generic":
        return "sgemm"
    if ggml_type in KQUANT_TYPES:
        return "kquant"
    return "legacy"


# The kernel tables are measured with the PyPI wheel's AVX2 kernels: an entry for a type these
# repack is its repacked kernel's speed, which says nothing of its plain dot product elsewhere;
# that one, measured with repacking off (``bench/cpu_kernels.py --plain``), is "TYPE/plain".
TABLE_REPACKED = REPACK_BY_ISA["avx2"]
PLAIN = "/plain"
# Plain dot products built as Q4_0's is: MXFP4 and IQ4_NL look each nibble up in a 16-entry
# table (one byte shuffle) where Q4_0 subtracts 8, over blocks of 32 with one scale, so where a
# table measured plain Q4_0 and not them, they take its speed rather than their class's.
PLAIN_AS = {"MXFP4": "Q4_0", "IQ4_NL": "Q4_0"}


def _mix_speed(
    mix: Iterable[tuple[str, float]], isa: str | None, speeds: dict[str, float], repacked: bool = True
) -> float:
    """1 ÷ Σ share ÷ speed: the speed of a mix of types relative to repacked Q4_0, each type at
    its own entry in ``speeds``, else its kernel class's, else 1. The ``repacked`` class is
    repacked Q4_0 (1 by definition); a repacked type measured apart has its own entry (an
    interleaved Q4_K GEMV does not stream at Q4_0's speed), which holds on the repacked path
    only. Where that type is not repacked it takes its plain kernel's entry ("Q4_K/plain"), or
    for MXFP4 and IQ4_NL plain Q4_0's, where one was measured; else its class's speed, which
    where only the buffer keeps it plain (beside a GPU, --no-repack; ``repacked`` False on an
    ISA that repacks it) is capped at its repacked speed: llama.cpp repacks a type because
    the interleaved kernel is the faster, as measured for Q4_0 and Q4_K."""
    t = 0.0
    for typ, share in mix:
        cls = kernel_class(typ, isa, repacked)
        if cls == "repacked":
            speed = speeds.get(typ, 1.0)
        elif typ in TABLE_REPACKED:
            plain = speeds.get(typ + PLAIN)
            if plain is None and typ in PLAIN_AS:
                plain = speeds.get(PLAIN_AS[typ] + PLAIN)
            if plain is None:
                plain = speeds.get(cls, 1.0)
                if not repacked and typ in repacked_types(isa):
                    plain = min(plain, speeds.get(typ, 1.0))
            speed = plain
        else:
            speed = speeds.get(typ, speeds.get(cls, 1.0))
        t += share / speed
    return 1.0 / t if t > 0 else 1.0


def prefill_kernel_factor(
    matrix_types: Iterable[tuple[str, float]],
    isa: str | None,
    speeds: dict[str, float] | None,
    repacked: bool = True,
) -> float:
    """Prompt-processing speed of a model's matrix mix relative to all-repacked weights.

    ``matrix_types`` are (ggml type, share of the parameters); ``speeds`` the relative
    speed of a type (an entry named for it) or else of its kernel class (``repacked`` =
    1). Each type's share of the FLOPs takes share ÷ speed of the time, so the factor is
    1 ÷ Σ share ÷ speed. Without either: 1. ``repacked``: False where the weights sit outside
    CPU_REPACK's buffer (:func:`kernel_class`).
    """
    return _mix_speed(matrix_types, isa, speeds, repacked) if speeds else 1.0


def decode_kernel_factor(
    read_types: Iterable[tuple[str, float]],
    isa: str | None,
    speeds: Iterable[tuple[str, float]] | None,
    repacked: bool = True,
) -> float:
    """How fast a thread streams a model's weights while decoding, relative to repacked ones.

    A decode step multiplies each matrix by one vector, one dot product per row: llama.cpp's
    per-type kernels differ in how much work a byte costs (a Q8_0 block is a plain int8 dot
    product, a Q4_1 or Q5_0 one unpacks nibbles and adds an offset per block; repacked Q4
    reads eight rows at once). Where a CPU is thread-bound, a token's time is the sum over
    its types of bytes ÷ (rate × speed), so the factor is 1 ÷ Σ share ÷ speed over
    ``read_types`` (ggml type, share of the bytes). ``speeds``: per type, else per kernel
    class (:func:`kernel_class`), else 1 (measured: ``bench/cpu_kernels.py``). ``repacked``:
    False where the weights sit outside CPU_REPACK's buffer."""
    table = dict(speeds or ())
    return _mix_speed(read_types, isa, table, repacked) if table else 1.0
