"""Host platforms and complete systems, and whether N cards physically fit a platform.

Eight cards need eight slots, the lanes to feed them and a power supply that carries
them; a plan that ignores this recommends machines nobody can build. Platforms come from
``data/platforms.yaml`` (price with kind/date/source, slots and lanes, RAM channels and
bandwidth, maximum RAM, PSU, CPU and idle power); complete systems priced as sold (a
box with N cards, or a unified-memory machine) from the same file and
``data/machine_prices.yaml``.

Pure apart from the cached loader.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.machine import pcie_gbs
from sizing.core.tables import data_file, read_yaml_mapping, validate
from sizing.errors import SizingError

if TYPE_CHECKING:
    from sizing.core.tables import DataPath
from sizing.core.prices import Price

PLATFORMS_FILE = data_file("platforms.yaml")
# Summed TDP may not exceed the PSU rating; above this share of it the row says so (multi-GPU
# rigs on one PSU commonly run there, often with the cards power-limited).
PSU_WARN_SHARE = 0.9
# Wall power of the rest of the box under load (board, RAM, fans, drives), beyond CPU and cards.
BASE_LOAD_W = 50.0
# Passively cooled datacenter cards up to this board power (P40, V100, MI50 class) are run in
# desktops with a fan shroud; hotter ones (A100, H100, L40S) are left to server chassis.
PASSIVE_DESKTOP_MAX_W = 250.0
# What a US household outlet carries as a continuous load: a 15 A / 120 V branch circuit is
# 1,800 W, and a load running three hours or more may use 80% of it (the NEC rule, quoted at
# https://forums.overclockersclub.com/topic/199609-1200w-1600w-psus-pushing-the-limits-of-the-electrical-outlet/ ;
# a 2026 4-GPU build kept to "a single, standard US wall outlet – 15A, 120V" by power-limiting
# its cards: https://jbarrow.ai/2026-05-18-gpu-workstation/). A 230 V European socket carries about
# twice that, so a build above it is noted, not refused.
US_OUTLET_CONTINUOUS_W = 1440.0
# Module sizes sold per RAM type (GB). DDR5 has non-binary 24/48/96 GB modules; DDR4 does not.
DIMM_SIZES_GB: dict[str, tuple[int, ...]] = {
    "ddr4": (8, 16, 32, 64, 128),
    "ddr5": (16, 24, 32, 48, 64),
    "ddr5-rdimm": (16, 24, 32, 48, 64, 96, 128),
}


class Platform(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str
    klass: Literal["desktop", "hedt", "server"] = Field(alias="class")
    price: Price
    gpu_slots: int = Field(ge=0, le=16)
    slot_lanes: tuple[int, ...]
    pcie_gen: int = Field(ge=3, le=6)
    slot_gens: tuple[int, ...] | None = Field(
        None, description="PCIe generation of each slot where they differ (a chipset slot runs below the CPU's)"
    )
    ram_type: Literal["ddr4", "ddr5", "ddr5-rdimm"]
    ram_channels: int = Field(ge=1, le=24)
    ram_bandwidth_gbs: float = Field(gt=0)
    ram_included_gb: float = Field(ge=0)
    max_ram_gb: float = Field(gt=0)
    threads: int = Field(gt=0)
    cpu_vendor: Literal["GenuineIntel", "AuthenticAMD"] = Field(
        description="the CPU's CPUID vendor: its decode kernel table (sizing.core.speed.estimate.decode_kernel_table)"
    )
    psu_w: float = Field(gt=0)
    psu_assumed: bool = False
    cpu_w: float = Field(gt=0)
    idle_w: float = Field(gt=0)
    idle_source: str | None = None
    spec_source: str = Field(min_length=8)
    note: str | None = None
    ram_1dpc_max_gb: float | None = Field(
        None,
        gt=0,
        description="the most RAM at one DIMM per channel; more needs a second DIMM per channel, which "
        "the memory controller runs slower (None: every slot has its own channel, or not modelled)",
    )
    ram_bandwidth_2dpc_gbs: float | None = Field(
        None, gt=0, description="bandwidth with two DIMMs per channel, at the speed the cited page gives"
    )
    ram_2dpc_source: str | None = None
    dimm_slots: int | None = Field(
        None,
        gt=0,
        description="DIMM slots on the board: RAM is then bought as identical modules filling every "
        "channel evenly (None: any multiple of 32 GB, not modelled)",
    )
    max_card_usd: float | None = Field(
        None, gt=0, description="the dearest card this host is bought for (x1-riser rigs: cheap cards)"
    )
    min_cards: int = Field(1, ge=1, description="the fewest cards this host is bought for")
    host_rule_source: str | None = Field(
        None, description="why max_card_usd / min_cards hold: a cited build of this host and its cards"
    )

    def model_post_init(self, _ctx: object) -> None:
        if len(self.slot_lanes) != self.gpu_slots:
            raise ValueError(f"slot_lanes lists {len(self.slot_lanes)} slots, gpu_slots says {self.gpu_slots}")
        if self.slot_gens is not None and len(self.slot_gens) != self.gpu_slots:
            raise ValueError(f"slot_gens lists {len(self.slot_gens)} slots, gpu_slots says {self.gpu_slots}")
        if self.ram_included_gb > self.max_ram_gb:
            raise ValueError("ram_included_gb exceeds max_ram_gb")
        if self.ram_bandwidth_2dpc_gbs is not None:
            if self.ram_1dpc_max_gb is None or not self.ram_2dpc_source:
                raise ValueError("ram_bandwidth_2dpc_gbs needs ram_1dpc_max_gb and ram_2dpc_source")
            if self.ram_bandwidth_2dpc_gbs > self.ram_bandwidth_gbs:
                raise ValueError("ram_bandwidth_2dpc_gbs exceeds ram_bandwidth_gbs")
        if self.ram_1dpc_max_gb is not None and not self.ram_included_gb <= self.ram_1dpc_max_gb <= self.max_ram_gb:
            raise ValueError("ram_1dpc_max_gb must lie between ram_included_gb and max_ram_gb")
        if (self.max_card_usd is not None or self.min_cards > 1) and not self.host_rule_source:
            raise ValueError("max_card_usd / min_cards need host_rule_source saying why")
        if self.min_cards > max(self.gpu_slots, 1):
            raise ValueError(f"min_cards {self.min_cards} exceeds the {self.gpu_slots} slots")
        if self.dimm_slots is not None and self.dimm_slots % self.ram_channels:
            raise ValueError(f"{self.dimm_slots} DIMM slots do not divide evenly over {self.ram_channels} channels")

    def ram_fill(self, need_gb: float) -> tuple[float, int, int] | None:
        """The least RAM of at least ``need_gb`` that fills every channel with identical modules:
        (total GB, modules, GB per module), fewest modules first at equal size. Channels filled
        unevenly, or with mixed modules, run slower or may not train at all, so a buyer
        populates them evenly. None when the board cannot hold that much, or its slots are not
        given (the caller then rounds to 32 GB)."""
        if self.dimm_slots is None:
            return None
        biggest = self.max_ram_gb / self.dimm_slots
        fills = [
            (float(n * size), n, size)
            for n in range(self.ram_channels, self.dimm_slots + 1, self.ram_channels)
            for size in DIMM_SIZES_GB[self.ram_type]
            if size <= biggest and n * size >= need_gb
        ]
        return min(fills, default=None)

    def ram_bandwidth_at(self, ram_gb: float) -> tuple[float, str | None] | None:
        """Bandwidth with ``ram_gb`` fitted and, where a second DIMM per channel slows it, why.
        None when that much RAM needs two DIMMs per channel and no page gives their speed:
        such a build is left out rather than priced at the one-DIMM speed."""
        if self.ram_1dpc_max_gb is None or ram_gb <= self.ram_1dpc_max_gb:
            return self.ram_bandwidth_gbs, None
        if self.ram_bandwidth_2dpc_gbs is None:
            return None
        return self.ram_bandwidth_2dpc_gbs, (
            f"{ram_gb:.0f} GB needs two DIMMs per channel (one per channel holds {self.ram_1dpc_max_gb:.0f} GB): "
            f"RAM runs slower, {self.ram_bandwidth_2dpc_gbs:.1f} GB/s instead of {self.ram_bandwidth_gbs:.1f} "
            f"({self.ram_2dpc_source})"
        )


class CardPower(BaseModel):
    """The maker's recommended system PSU for one card (a typical host and the card's spikes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_id: str
    system_psu_w: float = Field(gt=0)
    source: str = Field(pattern=r"^https://\S+")
    like: str | None = Field(
        None,
        description=(
            "no figure is published for this card: the one here is its maker's for the card named, the "
            "same chip at no more board power, whose spikes this card's at least match"
        ),
    )

    def says(self, name: str) -> str:
        """Whose figure it is, as a refusal says it."""
        if self.like:
            return f"the maker's recommended PSU for a system with one {self.like} (the same chip at less power than the {name}, which has no figure of its own)"
        return f"the maker's recommended PSU for a system with one {name}"


class System(BaseModel):
    """A box sold whole with ``count`` of one accelerator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str
    gpu_id: str
    count: int = Field(ge=1, le=16)
    price: Price
    host_ram_gb: float = Field(gt=0)
    host_bandwidth_gbs: float = Field(gt=0)
    threads: int = Field(gt=0)
    idle_w: float = Field(gt=0)


@cache
def load_platforms(path: DataPath = PLATFORMS_FILE) -> tuple[tuple[Platform, ...], tuple[System, ...]]:
    raw = read_yaml_mapping(path, "platform list")
    if not isinstance(raw, dict):
        raise SizingError(f"{path}: expected a mapping with 'platforms' and 'systems'")

    def name(e: object, i: int) -> str:
        return repr(e.get("id", i)) if isinstance(e, dict) else repr(i)

    plats = tuple(
        validate(Platform, e, f"{path}: platform {name(e, i)},") for i, e in enumerate(raw.get("platforms") or [])
    )
    systems = tuple(
        validate(System, e, f"{path}: system {name(e, i)},") for i, e in enumerate(raw.get("systems") or [])
    )
    card_power(path)  # type: ignore[arg-type]  # a DataPath is hashable; validated with the rest of the file
    ids = [p.id for p in plats] + [s.id for s in systems]
    dup = {x for x in ids if ids.count(x) > 1}
    if dup:
        raise SizingError(f"{path}: duplicate ids {sorted(dup)}")
    return plats, systems


@cache
def card_power(path: DataPath = PLATFORMS_FILE) -> dict[str, CardPower]:
    """``card_power`` of platforms.yaml by GPU id."""
    raw = read_yaml_mapping(path, "platform list")
    entries = (raw.get("card_power") or []) if isinstance(raw, dict) else []
    out = {}
    for i, e in enumerate(entries):
        c = validate(CardPower, e, f"{path}: card_power {e.get('gpu_id', i) if isinstance(e, dict) else i!r},")
        out[c.gpu_id] = c
    return out


class Fit(BaseModel):
    """Whether ``count`` cards go into a platform, and what limits it."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    load_w: float | None = Field(None, description="cards' TDP + CPU TDP + the rest of the box")
    lanes: tuple[int, ...] = ()
    link_gbs: float | None = Field(None, description="the narrowest card link, GB/s each way (slot lanes x generation)")
    link: str | None = Field(None, description="the narrowest card link, as 'PCIe 3.0 x1'")
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def physical_fit(platform: Platform, gpu, count: int) -> Fit:
    """Slots, PSU against summed TDP (and, for a card with a cited recommended system PSU,
    against that figure plus the other cards' TDP), and form factor. Lanes per card are reported (a
    build on x1 risers works for layer split, slowly to load) rather than refused."""
    reasons: list[str] = []
    notes: list[str] = []
    if "sxm" in gpu.id:
        reasons.append(f"{gpu.name} is an SXM module, not a PCIe card: it needs an SXM carrier board")
    if count > platform.gpu_slots:
        reasons.append(f"{count} cards > {platform.gpu_slots} usable slots")
    load = None
    if gpu.tdp_w is None:
        reasons.append(f"{gpu.name}: board power unknown, so the PSU cannot be checked")
    else:
        load = gpu.tdp_w * count + platform.cpu_w + BASE_LOAD_W
        sums = f"{count}× {gpu.tdp_w:.0f} W + CPU {platform.cpu_w:.0f} W + {BASE_LOAD_W:.0f} W = {load:.0f} W"
        rec = card_power().get(gpu.id)
        # the maker's one-card system figure already holds a host and the card's spikes; each
        # further card adds its board power
        need = rec.system_psu_w + gpu.tdp_w * (count - 1) if rec else 0.0
        if load > platform.psu_w:
            reasons.append(f"{sums} > the {platform.psu_w:.0f} W PSU")
        elif rec and need > platform.psu_w:
            more = f" + {count - 1}× {gpu.tdp_w:.0f} W for the other cards = {need:.0f} W" if count > 1 else ""
            reasons.append(
                f"{rec.says(gpu.name)} is {rec.system_psu_w:.0f} W{more}: "
                f"more than the {platform.psu_w:.0f} W PSU ({rec.source.split()[0]})"
            )
        elif load > platform.psu_w * PSU_WARN_SHARE:
            notes.append(
                f"{sums}: {load / platform.psu_w:.0%} of the {platform.psu_w:.0f} W PSU (power-limit the cards)"
            )
    if load is not None and not reasons and load > US_OUTLET_CONTINUOUS_W:
        notes.append(
            f"{load:.0f} W at load: more than a US 15 A / 120 V outlet carries continuously "
            f"({US_OUTLET_CONTINUOUS_W:.0f} W, 80% of 1,800 W): it needs a 20 A or 240 V circuit there, "
            "or power-limited cards (a 230 V European socket carries it)"
        )
    if getattr(gpu, "kind", None) == "datacenter" and platform.klass == "desktop":
        if (gpu.tdp_w or 0) > PASSIVE_DESKTOP_MAX_W:
            reasons.append(
                f"{gpu.name} is a passively cooled {gpu.tdp_w:.0f} W datacenter card: it needs a server "
                "chassis's airflow, not a desktop case"
            )
        else:
            notes.append(f"{gpu.name} is passively cooled: in a desktop it needs a fan shroud (or a server chassis)")
    lanes = tuple(platform.slot_lanes[:count])
    gens = tuple(platform.slot_gens[:count]) if platform.slot_gens else (platform.pcie_gen,) * len(lanes)
    if lanes and min(lanes) < 8:
        # the narrowest link the cards get: fewest lanes, then the oldest generation among those slots
        gen = min(g for g, n in zip(gens, lanes) if n == min(lanes))
        link = pcie_gbs(gen, min(lanes)) or 1.0
        how = f"cards run at PCIe {gen}.0 x{min(lanes)} (~{link:.0f} GB/s each)"
        if min(lanes) <= 2:
            notes.append(
                f"{how}: layer split works, as only activations cross between cards, but loading takes "
                f"~{1 / link:.1f} s per GB, and tensor parallel (-sm row) and expert offload are impractical"
            )
        else:
            notes.append(f"{how}: fine for layer split, slower to load, and tensor parallel suffers")
    notes.append("card width is not in the data: check that the cards fit the slot spacing (or use risers)")
    if platform.psu_assumed:
        notes.append(f"PSU {platform.psu_w:.0f} W is assumed (the cited build does not state it)")
    links = [(pcie_gbs(g, n), f"PCIe {g}.0 x{n}") for g, n in zip(gens, lanes)]
    narrowest = min(((x, name) for x, name in links if x), default=(None, None))
    return Fit(
        ok=not reasons,
        load_w=load,
        lanes=lanes,
        link_gbs=narrowest[0],
        link=narrowest[1],
        reasons=tuple(reasons),
        notes=tuple(notes),
    )
