"""`llm-sizing gpus` and `llm-sizing detect` through the real CLI entry point."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from sizing.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_gpus_match_json_gives_entry_fields(capsys):
    code, out, _ = run(capsys, "gpus", "--match", "NVIDIA H100 80GB HBM3", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["id"] == "nvidia-h100-sxm5-80gb"
    assert data["memory_gb"] == 80 and data["memory_bandwidth_gbs"] == 3350
    assert {"name", "fp16_tflops", "int8_tops", "backends", "sources"} <= data.keys()


def test_gpus_match_human(capsys):
    code, out, _ = run(capsys, "gpus", "--match", "4090 24GB")
    assert code == 0 and "nvidia-rtx-4090" in out and "source (memory)" in out


def test_gpus_ambiguous_and_unknown_exit_2(capsys):
    code, out, err = run(capsys, "gpus", "--match", "H100")
    assert code == 2 and out == ""
    assert "ambiguous" in err and "nvidia-h100-pcie-80gb" in err and err.count("\n") == 1
    code, out, _ = run(capsys, "gpus", "--match", "A100 80GB", "--json")
    assert code == 2
    data = json.loads(out)
    assert data["status"] == "ambiguous" and len(data["candidates"]) == 2
    code, _, err = run(capsys, "gpus", "--match", "Voodoo5 6000")
    assert code == 2 and "unknown device" in err


def test_gpus_list_and_vendor_filter(capsys):
    code, out, _ = run(capsys, "gpus", "--vendor", "apple", "--json")
    data = json.loads(out)
    assert code == 0 and len(data) >= 60 and {d["vendor"] for d in data} == {"apple"}
    code, out, _ = run(capsys, "gpus")
    assert code == 0 and "nvidia-rtx-4090" in out and "amd-mi300x" in out
    code, _, err = run(capsys, "gpus", "--vendor", "3dfx")
    assert code == 2 and "--vendor '3dfx'" in err


def test_gpus_vendor_filter_applies_to_match(capsys):
    code, _, err = run(capsys, "gpus", "--match", "RTX 4090", "--vendor", "amd")
    assert code == 2


def test_detect_json_cpu_only_here(capsys):
    code, out, _ = run(capsys, "detect", "--json")
    data = json.loads(out)
    assert code == 0 and data["cpu_only"] is True and data["gpus"] == []
    assert data["cpu"]["ram_total_bytes"] > 0
    assert any("CPU-only" in n for n in data["notes"])


def test_detect_human_with_probe_as_installed_script(tmp_path):
    env = {"LLM_SIZING_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "sizing", "detect", "--probe-bandwidth"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "bandwidth:" in proc.stdout and "GB/s measured" in proc.stdout
    assert "GPUs: none usable (CPU-only)" in proc.stdout
    assert (tmp_path / "ram_bandwidth.json").exists()
    if platform.system() == "Linux" and platform.machine() == "x86_64":
        # the CPUID vendor, and the decode kernel table it selects
        vendor = next(line for line in proc.stdout.splitlines() if line.strip().startswith("vendor:"))
        assert ("GenuineIntel" in vendor) != ("AuthenticAMD" in vendor) and "decode speed per weight type" in vendor


@pytest.mark.parametrize("argv", [["gpus", "--bogus"], ["detect", "--json", "extra"]])
def test_bad_flags_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
