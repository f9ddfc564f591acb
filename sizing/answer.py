"""The one composition: a model and settings (and optionally a machine) in, one ``Answer`` out.

``estimate()`` resolves the model and builds the Scenario (``sizing.estimate``), estimates
memory, then, with hardware, places it (``sizing.core.solver.plan_for_scenario``), times it
and writes the launch commands. The CLI prints the Answer (``estimate --json`` is
``Answer.to_json()``) and the UI renders the same object, so both show one shape with
the same numbers. ``Answer.model_json_schema()`` is published as ``llm-sizing schema``.

Context convention: ``ctx`` is llama.cpp's ``-c``, the whole KV cache over all
``parallel`` sequences; speed is per sequence at ``ctx // parallel`` tokens of depth.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.arch import ModelArch
from sizing.core.commands import Weights, computes_bf16, launch_commands
from sizing.core.machine import Hardware
from sizing.core.placement import DevicePlacement, PlacementOptions
from sizing.core.scenario import Basis
from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.context import ContextSpeed, context_speed
from sizing.core.speed.estimate import CalibrationSet, DeviceTime, Range
from sizing.core.speed.machine import MachineCalibration, calibrate_hardware
from sizing.core.solver import plan_for_scenario
from sizing.estimate import Estimate, EstimateFields
from sizing.estimate import estimate as estimate_memory_of
from sizing.sources.resolve import ResolvedModel

#: Bumped when a field of ``Answer`` is renamed, retyped or removed (not when one is added).
SCHEMA_VERSION = 1


class DeviceUse(BaseModel):
    """One device of the placement: what it holds and whether that fits."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: str
    backend: str
    layers: int
    holds_output: bool
    expert_layers: int
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int
    total_bytes: int
    capacity_bytes: int
    fits: bool

    @classmethod
    def of(cls, d: DevicePlacement) -> DeviceUse:
        return cls(**d.to_json())


class DecodeRead(BaseModel):
    """One device's part of a decoded token at an empty cache: what it reads, how fast, and
    what sets that rate (its memory, or a CPU's threads and its maker's kernel table)."""

    model_config = ConfigDict(frozen=True)

    device: str
    read_bytes: int = Field(description="bytes the device reads for one token")
    read_gbs: float = Field(description="GB/s it streams the weights at")
    seconds: float = Field(description="its share of the token's time, per-token overhead aside")
    basis: str

    @classmethod
    def of(cls, t: DeviceTime) -> DecodeRead:
        return cls(
            device=t.name,
            read_bytes=int(t.read_bytes),
            read_gbs=round(t.read_gbs, 2),
            seconds=round(t.seconds, 6),
            basis=t.read_basis,
        )


class Commands(BaseModel):
    """What to run for this plan (each a shell line; the Modelfile is a file's text)."""

    model_config = ConfigDict(frozen=True)

    llama_server: str
    ollama_serve: str | None = None
    ollama: str | None = None
    ollama_modelfile: str | None = None
    vllm: str | None = None
    notes: tuple[str, ...] = ()

    def shell(self) -> dict[str, str]:
        """The commands that are there, by name (for printing)."""
        return {k: v for k, v in self.model_dump().items() if isinstance(v, str) and v}


class Answer(EstimateFields):
    """Everything the CLI prints and the UI shows for one model on one machine: what was
    asked and its memory (``EstimateFields``), then placement, speed and commands."""

    schema_version: int = SCHEMA_VERSION
    # on a machine (None without hardware)
    hardware: str | None = None
    hardware_notes: tuple[str, ...] = ()
    fits: bool | None = None
    placement: str | None = Field(None, description="how the model is laid out on the devices")
    all_on_gpu: bool | None = None
    gpu_layers: int | None = None
    n_layers: int | None = None
    n_cpu_moe: int | None = None
    tensor_split: tuple[float, ...] | None = None
    shortfall_bytes: int | None = None
    devices: tuple[DeviceUse, ...] | None = None
    # speed (None when it does not fit)
    prompt_tokens: int | None = None
    decode_tokens_per_s: Range | None = None
    prefill_tokens_per_s: Range | None = None
    ttft_s: float | None = Field(None, description="expected time to first token, seconds")
    ttft_range_s: Range | None = None
    decode_at_depth: dict[str, Range] | None = None
    at_context: ContextSpeed | None = Field(
        None, description="speed at the chosen context: decode as it fills and when full, first token for the prompt"
    )
    speed_calibration: str | None = None
    decode_reads: tuple[DecodeRead, ...] | None = Field(
        None, description="each device's part of a decoded token: bytes, read rate and what sets it"
    )
    # what to run
    commands: Commands | None = None
    weights_source: Weights | None = None

    def to_json(self) -> dict:
        """The ``--json`` object (JSON-ready)."""
        return self.model_dump(mode="json")


_ESTIMATE_FIELDS = tuple(EstimateFields.model_fields)


def _rounded(r: Range, digits: int = 2) -> Range:
    return Range(**r.rounded(digits))


def answer_for(
    est: Estimate,
    hardware: Hardware | None = None,
    *,
    options: PlacementOptions | None = None,
    prompt_tokens: int | None = None,
    context_prompt_tokens: int | None = None,
    model_path: str | None = None,
    calibration: CalibrationSet | None = None,
    machine_calibration: MachineCalibration | None = None,
    hardware_basis: Sequence[Basis] = (),
) -> Answer:
    """The Answer of a memory estimate, placed and timed on ``hardware`` when one is given.

    ``calibration`` is the public speed calibration (default: the shipped fit);
    ``machine_calibration`` (fitted by adapters from this machine's stored live checks)
    refines it for the devices it was measured on. ``hardware_basis`` says where the
    adapter's hardware figures came from (database entry, detection, typed by the user).
    ``at_context`` is the speed at the chosen context (``sizing.core.speed.context``) for a
    ``context_prompt_tokens`` prompt (default: ``prompt_tokens`` if given, else a quarter of
    the context); a prompt longer than the context is capped there, and its basis says so."""
    fields = {f: getattr(est, f) for f in _ESTIMATE_FIELDS}
    if hardware is None:
        return Answer(**fields)
    hw, calib = calibrate_hardware(hardware, calibration or load_calibration(), machine_calibration)
    sc = est.scenario
    plan = plan_for_scenario(sc, est.parts, hw, calib, options=options, prompt_tokens=prompt_tokens)
    pl, sp = plan.placement, plan.speed
    at_ctx = None
    if sp is not None and pl.works:
        asked = context_prompt_tokens or prompt_tokens
        at_ctx = context_speed(
            pl.works, calib, ctx=plan.ctx, prompt_tokens=min(asked, plan.ctx) if asked else None, n_ubatch=sc.n_ubatch
        )
        if asked and asked > plan.ctx:
            at_ctx = at_ctx.model_copy(
                update={"prompt_basis": f"set: {asked:,} tokens, capped at the context ({plan.ctx:,})"}
            )
    cmds = launch_commands(
        est.model,
        est.quant,
        pl,
        ctx=plan.ctx,  # per slot; -c is the whole context
        total_ctx=sc.ctx,
        n_parallel=sc.n_parallel,
        model_path=model_path,
        kv_type_k=sc.kv_type_k,
        kv_type_v=sc.kv_type_v,
        flash_attn=sc.flash_attn,
        kv_unified=sc.kv_unified,
        mmap=sc.mmap,
        repack=sc.repack,
        mlock=sc.mlock,
        n_batch=sc.n_batch,
        n_ubatch=sc.n_ubatch,
        n_heads=sc.model.n_heads,
        n_kv_heads=sc.model.n_kv_heads,
        mmproj_path=sc.mmproj.path if sc.mmproj else None,
        bf16=computes_bf16(g.family for g in hw.gpus if g.backend == "cuda"),
    )
    basis = (*est.basis, *hardware_basis)
    if sp is not None:
        basis = (*basis, sp.basis.model_copy(update={"what": "Speed"}))
    return Answer(
        **{**fields, "basis": basis},
        hardware=hw.name,
        hardware_notes=tuple(dict.fromkeys([*hw.notes, *pl.notes])),
        fits=pl.fits,
        placement=pl.how,
        all_on_gpu=pl.all_on_gpu,
        gpu_layers=pl.gpu_layers,
        n_layers=pl.n_layers,
        n_cpu_moe=pl.n_cpu_moe,
        tensor_split=tuple(pl.tensor_split),
        shortfall_bytes=pl.shortfall_bytes,
        devices=tuple(DeviceUse.of(d) for d in pl.devices),
        prompt_tokens=sp.prompt_tokens if sp else None,
        decode_tokens_per_s=_rounded(sp.decode_tokens_per_s) if sp else None,
        prefill_tokens_per_s=_rounded(sp.prefill_tokens_per_s) if sp else None,
        ttft_s=round(sp.ttft_s.expected, 4) if sp else None,
        ttft_range_s=_rounded(sp.ttft_s, 4) if sp else None,
        decode_at_depth={str(k): _rounded(v) for k, v in sp.decode_at_depth.items()} if sp else None,
        at_context=at_ctx,
        speed_calibration=sp.calibration if sp else None,
        decode_reads=tuple(DecodeRead.of(t) for t in sp.per_device) if sp else None,
        commands=Commands(
            llama_server=cmds.llama_server,
            ollama=cmds.ollama,
            ollama_serve=cmds.ollama_serve or ("ollama serve" if cmds.ollama else None),
            ollama_modelfile=cmds.ollama_modelfile,
            vllm=cmds.vllm,
            notes=cmds.notes,
        ),
        weights_source=cmds.weights,
    )


def estimate(
    model: str | ModelArch | ResolvedModel,
    quant: str | None = None,
    ctx: int = 4096,
    *,
    hardware: Hardware | None = None,
    kv_type: str = "f16",
    kv_type_k: str | None = None,
    kv_type_v: str | None = None,
    batch: int = 2048,
    ubatch: int = 512,
    parallel: int = 1,
    kv_unified: bool = True,
    flash_attn: bool = True,
    backend: str | None = None,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    mmproj: object = None,
    offline: bool | None = None,
    options: PlacementOptions | None = None,
    prompt_tokens: int | None = None,
    context_prompt_tokens: int | None = None,
    model_path: str | None = None,
    calibration: CalibrationSet | None = None,
    machine_calibration: MachineCalibration | None = None,
    hardware_basis: Sequence[Basis] = (),
) -> Answer:
    """Can ``model`` run at ``quant`` with a ``ctx``-token context (on ``hardware``), and how fast?

    ``model`` is a catalog id or alias, a Hugging Face repo id, a ``.gguf`` or
    ``config.json`` path, a ``ModelArch`` or a ``ResolvedModel``. ``quant`` defaults to a
    file's own type, else Q4_K_M. ``backend`` defaults to the hardware's main device's
    (else ``cpu``). Bad input raises :class:`sizing.errors.SizingError` with one clear line.
    """
    if backend is None:
        backend = hardware.gpus[0].backend if hardware is not None and hardware.gpus else "cpu"
    est = estimate_memory_of(
        model,
        quant,
        ctx,
        kv_type=kv_type,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        batch=batch,
        ubatch=ubatch,
        parallel=parallel,
        kv_unified=kv_unified,
        flash_attn=flash_attn,
        backend=backend,
        offline=offline,
        mmap=mmap,
        repack=repack,
        mlock=mlock,
        mmproj=mmproj,
    )
    return answer_for(
        est,
        hardware,
        options=options,
        prompt_tokens=prompt_tokens,
        context_prompt_tokens=context_prompt_tokens,
        model_path=model_path,
        calibration=calibration,
        machine_calibration=machine_calibration,
        hardware_basis=hardware_basis,
    )


def json_schema() -> dict:
    """The published JSON Schema of ``estimate --json`` (``llm-sizing schema``)."""
    schema = Answer.model_json_schema()
    schema["title"] = f"llm-sizing answer, schema_version {SCHEMA_VERSION}"
    return schema
