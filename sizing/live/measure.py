"""Turn what a llama.cpp child did into a Measurement: its events, its log, its end.

Shared by both runners: the JSON-lines progress events a driver child printed, the
buffer sizes in llama.cpp's log (``sizing.live.llamacpp_log``), and how the process ended
(``sizing.live.isolation.ChildResult``) become one Measurement with a status and a
message a user can act on, keeping whatever was measured before a failure.
"""

from __future__ import annotations

from sizing.live.isolation import ChildResult
from sizing.live.llamacpp_log import (
    LlamaBuild,
    failure_line,
    log_tail,
    memory_from_log,
    runner_version,
    speeds_from_log,
)
from sizing.live.runner import Check, Measurement, RunnerInfo


def build_measurement(
    check: Check,
    child: ChildResult,
    events: dict[str, dict],
    runner: RunnerInfo,
    stages,
    gpu_delta,
    build: LlamaBuild | None = None,
) -> Measurement:
    """Combine what the child said, what its log shows and how it ended."""
    mem = memory_from_log(child.stderr)
    result = events.get("result", {})
    error = events.get("error")
    if child.returncode == 0 and result:
        status, message = "ok", "finished"
    elif child.timed_out:
        status, message = "timeout", f"llama.cpp {child.describe()} (limit {check.timeout_s:.0f} s)"
    elif child.cancelled:
        status, message = "cancelled", "cancelled by the user"
    elif error:
        status = "crashed" if (error.get("returncode") or 0) < 0 else "failed"
        message = f"llama.cpp failed while {error.get('stage', 'running')}: {error.get('message', '')}"
        hint = failure_line(child.stderr)
        if hint:
            message += f" — {hint}"
    else:
        status, message = "crashed", f"llama.cpp {child.describe()}"
        hint = failure_line(child.stderr)
        if hint:
            message += f" — {hint}"
    load_s = result.get("load_s") or events.get("loaded", {}).get("load_s")
    if result.get("from_log"):  # llama-cli: timings only in its log
        result = {**speeds_from_log(child.stderr), **result}
    peaks = [v for v in (child.peak_rss_bytes, result.get("peak_rss_bytes")) if v]
    if build is not None and build.known:  # the wheel reports no real build number
        runner = runner.model_copy(update={"version": runner_version(runner.version, build)})
    return Measurement(
        status=status,
        message=message,
        runner=runner,
        model_path=check.model_path,
        ctx=check.ctx,
        weights_bytes=mem["weights_bytes"],
        kv_cache_bytes=mem["kv_cache_bytes"],
        compute_bytes=mem["compute_bytes"],
        output_bytes=mem["output_bytes"],
        devices=mem["devices"],
        peak_rss_bytes=max(peaks) if peaks else None,
        gpu_memory_delta_bytes=gpu_delta,
        load_s=load_s,
        n_prompt=result.get("n_prompt"),
        n_gen=result.get("n_gen"),
        prefill_tokens_per_s=result.get("prefill_tokens_per_s"),
        decode_tokens_per_s=result.get("decode_tokens_per_s"),
        wall_s=child.wall_s,
        stages=tuple(stages),
        log_tail=log_tail(child.stderr),
    )
