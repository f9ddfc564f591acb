"""Fakes for the system boundaries this machine lacks: libnvidia-ml, macOS tools, sysfs.

The NVML fake replaces only the *shared library* that pynvml loads. The real pynvml
module (nvidia-ml-py) stays in place: its wrappers build the real ctypes structs, map
return codes to its real ``NVMLError`` subclasses and convert strings exactly as on a
machine with a driver. The fake implements the C functions pynvml calls, with their C
calling convention (out-parameters written through ``byref``), and returns NVML's
numeric error codes.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path

import pynvml

SUCCESS = pynvml.NVML_SUCCESS
INSUFFICIENT_SIZE = pynvml.NVML_ERROR_INSUFFICIENT_SIZE


@dataclass
class FakeGPU:
    name: str
    total: int
    used: int = 0
    cc: tuple[int, int] = (8, 9)
    pcie: tuple[int, int] | None = (4, 16)  # max (device and slot); None -> NOT_SUPPORTED
    pcie_current: tuple[int, int] = (1, 16)  # idle GPUs downshift the link
    power_mw: int | None = 450_000
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    procs: list[tuple[int, int]] = field(default_factory=list)  # (pid, used bytes)
    utilisation: int = 0  # percent of the last sample period the GPU was busy (nvmlUtilization_t.gpu)
    # C function name -> error code returned when pynvml calls it for this device
    errors: dict[str, int] = field(default_factory=dict)


class FakeNVMLLibrary:
    """Stands in for libnvidia-ml.so: attribute lookup yields C-like functions."""

    def __init__(
        self,
        gpus: list[FakeGPU],
        *,
        driver: str = "550.54.15",
        cuda: int = 12040,
        errors: dict[str, int] | None = None,
        process_names: dict[int, str] | None = None,
    ) -> None:
        self.gpus = gpus
        self.driver = driver
        self.cuda = cuda
        self.errors = errors or {}  # system-level C function -> error code
        self.process_names = process_names or {}
        self.calls: list[str] = []
        self._structs = [pynvml.struct_c_nvmlDevice_t() for _ in gpus]

    # -- plumbing ----------------------------------------------------------------------
    def __getattr__(self, name: str):
        impl = getattr(type(self), "c_" + name, None)
        if impl is None:
            raise AttributeError(name)  # pynvml turns this into NVML_ERROR_FUNCTION_NOT_FOUND

        def fn(*args):
            self.calls.append(name)
            if name in self.errors:
                return self.errors[name]
            return impl(self, *args)

        return fn

    def _gpu(self, handle) -> FakeGPU:
        addr = ctypes.addressof(handle.contents)
        for i, s in enumerate(self._structs):
            if ctypes.addressof(s) == addr:
                return self.gpus[i]
        raise AssertionError("unknown handle")

    def _dev(self, name: str, handle) -> tuple[FakeGPU, int]:
        gpu = self._gpu(handle)
        return gpu, gpu.errors.get(name, SUCCESS)

    # -- system ------------------------------------------------------------------------
    def c_nvmlInitWithFlags(self, flags):
        return SUCCESS

    def c_nvmlShutdown(self):
        return SUCCESS

    def c_nvmlSystemGetDriverVersion(self, buf, size):
        buf.value = self.driver.encode()
        return SUCCESS

    def c_nvmlSystemGetCudaDriverVersion(self, ref):
        ref._obj.value = self.cuda
        return SUCCESS

    def c_nvmlSystemGetProcessName(self, pid, buf, size):
        name = self.process_names.get(pid.value)
        if name is None:
            return pynvml.NVML_ERROR_NOT_FOUND
        buf.value = name.encode()
        return SUCCESS

    def c_nvmlDeviceGetCount_v2(self, ref):
        ref._obj.value = len(self.gpus)
        return SUCCESS

    def c_nvmlDeviceGetHandleByIndex_v2(self, index, ref):
        i = index.value
        if i >= len(self.gpus):
            return pynvml.NVML_ERROR_INVALID_ARGUMENT
        err = self.gpus[i].errors.get("nvmlDeviceGetHandleByIndex_v2", SUCCESS)
        if err:
            return err
        ref._obj.contents = self._structs[i]
        return SUCCESS

    # -- device ------------------------------------------------------------------------
    def c_nvmlDeviceGetName(self, handle, buf, size):
        gpu, err = self._dev("nvmlDeviceGetName", handle)
        if not err:
            buf.value = gpu.name.encode()
        return err

    def c_nvmlDeviceGetUUID(self, handle, buf, size):
        gpu, err = self._dev("nvmlDeviceGetUUID", handle)
        if not err:
            buf.value = gpu.uuid.encode()
        return err

    def c_nvmlDeviceGetMemoryInfo(self, handle, ref):
        gpu, err = self._dev("nvmlDeviceGetMemoryInfo", handle)
        if not err:
            ref._obj.total = gpu.total
            ref._obj.used = gpu.used
            ref._obj.free = gpu.total - gpu.used
        return err

    def c_nvmlDeviceGetCudaComputeCapability(self, handle, major, minor):
        gpu, err = self._dev("nvmlDeviceGetCudaComputeCapability", handle)
        if not err:
            major._obj.value, minor._obj.value = gpu.cc
        return err

    def c_nvmlDeviceGetUtilizationRates(self, handle, ref):
        gpu, err = self._dev("nvmlDeviceGetUtilizationRates", handle)
        if not err:
            ref._obj.gpu = gpu.utilisation
            ref._obj.memory = 0
        return err

    def _link(self, name, handle, ref, pick):
        gpu, err = self._dev(name, handle)
        if err or gpu.pcie is None:
            return err or pynvml.NVML_ERROR_NOT_SUPPORTED
        ref._obj.value = pick(gpu)
        return SUCCESS

    def c_nvmlDeviceGetMaxPcieLinkGeneration(self, handle, ref):
        return self._link("nvmlDeviceGetMaxPcieLinkGeneration", handle, ref, lambda g: g.pcie[0])

    def c_nvmlDeviceGetMaxPcieLinkWidth(self, handle, ref):
        return self._link("nvmlDeviceGetMaxPcieLinkWidth", handle, ref, lambda g: g.pcie[1])

    def c_nvmlDeviceGetCurrPcieLinkGeneration(self, handle, ref):
        return self._link("nvmlDeviceGetCurrPcieLinkGeneration", handle, ref, lambda g: g.pcie_current[0])

    def c_nvmlDeviceGetCurrPcieLinkWidth(self, handle, ref):
        return self._link("nvmlDeviceGetCurrPcieLinkWidth", handle, ref, lambda g: g.pcie_current[1])

    def c_nvmlDeviceGetPowerManagementLimit(self, handle, ref):
        gpu, err = self._dev("nvmlDeviceGetPowerManagementLimit", handle)
        if err or gpu.power_mw is None:
            return err or pynvml.NVML_ERROR_NOT_SUPPORTED
        ref._obj.value = gpu.power_mw
        return SUCCESS

    def _procs(self, name, handle, count_ref, array):
        gpu, err = self._dev(name, handle)
        if err:
            return err
        if not gpu.procs:
            count_ref._obj.value = 0
            return SUCCESS
        if array is None or count_ref._obj.value < len(gpu.procs):
            count_ref._obj.value = len(gpu.procs)
            return INSUFFICIENT_SIZE
        for i, (pid, used) in enumerate(gpu.procs):
            array[i].pid = pid
            array[i].usedGpuMemory = used
        count_ref._obj.value = len(gpu.procs)
        return SUCCESS

    def c_nvmlDeviceGetComputeRunningProcesses_v3(self, handle, count_ref, array):
        return self._procs("nvmlDeviceGetComputeRunningProcesses_v3", handle, count_ref, array)

    def c_nvmlDeviceGetGraphicsRunningProcesses_v3(self, handle, count_ref, array):
        # graphics contexts: none in these scenarios
        gpu, err = self._dev("nvmlDeviceGetGraphicsRunningProcesses_v3", handle)
        if not err:
            count_ref._obj.value = 0
        return err

    @classmethod
    def c_function_names(cls) -> list[str]:
        return [n[2:] for n in dir(cls) if n.startswith("c_nvml")]


def install_fake_nvml(monkeypatch, lib: FakeNVMLLibrary | None) -> None:
    """Make pynvml use ``lib`` as libnvidia-ml (None: no library, the real CDLL failure)."""
    monkeypatch.setattr(pynvml, "nvmlLib", lib)
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})


# ------------------------------------------------------------------------------ sysfs
def make_drm_card(
    root: Path,
    n: int,
    *,
    vendor: int,
    device: int,
    vram_total: int | None = None,
    vram_used: int | None = None,
    gtt_total: int | None = None,
    render_minor: int | None = None,
    product_name: str | None = None,
    bus_id: str | None = None,
) -> Path:
    """Build /sys/class/drm/cardN -> ../../devices/pci…/BUS with the amdgpu/i915 files."""
    bus = bus_id or f"0000:{n + 3:02x}:00.0"
    dev = root / "sys" / "devices" / "pci0000:00" / bus
    dev.mkdir(parents=True, exist_ok=True)
    (dev / "vendor").write_text(f"0x{vendor:04x}\n")
    (dev / "device").write_text(f"0x{device:04x}\n")
    (dev / "subsystem_vendor").write_text(f"0x{vendor:04x}\n")
    (dev / "subsystem_device").write_text("0x0000\n")
    if vram_total is not None:
        (dev / "mem_info_vram_total").write_text(f"{vram_total}\n")
        (dev / "mem_info_vram_used").write_text(f"{vram_used or 0}\n")
    if gtt_total is not None:
        (dev / "mem_info_gtt_total").write_text(f"{gtt_total}\n")
    if product_name is not None:
        (dev / "product_name").write_text(product_name + "\n")
    if render_minor is not None:
        (dev / "drm" / f"renderD{render_minor}").mkdir(parents=True, exist_ok=True)
        (dev / "drm" / f"card{n}").mkdir(parents=True, exist_ok=True)
    drm = root / "sys" / "class" / "drm"
    drm.mkdir(parents=True, exist_ok=True)
    (drm / f"card{n}").mkdir(exist_ok=True)
    (drm / f"card{n}" / "device").symlink_to(dev)
    (drm / f"card{n}-DP-1").mkdir(exist_ok=True)  # a connector, to be ignored
    return dev


def make_kfd_node(root: Path, node: int, *, gfx_target_version: int, render_minor: int) -> None:
    d = root / "sys" / "class" / "kfd" / "kfd" / "topology" / "nodes" / str(node)
    d.mkdir(parents=True, exist_ok=True)
    # excerpt of a real properties file: "name value" per line
    (d / "properties").write_text(
        "cpu_cores_count 0\nsimd_count 192\nmem_banks_count 1\n"
        f"gfx_target_version {gfx_target_version}\nvendor_id 4098\n"
        f"drm_render_minor {render_minor}\nlocation_id 768\n"
    )


PCI_IDS_EXCERPT = """\
#	List of PCI ID's (excerpt in the pci.ids format)
1002  Advanced Micro Devices, Inc. [AMD/ATI]
	15bf  Phoenix1
	73bf  Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]
	744c  Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]
		1002 0e3b  RX 7900 GRE
	74a1  Aqua Vanjaram [Instinct MI300X]
10de  NVIDIA Corporation
	2684  AD102 [GeForce RTX 4090]
8086  Intel Corporation
	46a6  Alder Lake-P GT2 [Iris Xe Graphics]
	56a0  DG2 [Arc A770]
	e20b  Battlemage G21 [Arc B580]
"""


def write_pci_ids(root: Path) -> None:
    p = root / "usr" / "share" / "misc" / "pci.ids"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(PCI_IDS_EXCERPT)
