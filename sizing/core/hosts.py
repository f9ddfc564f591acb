"""Which host a buyer puts given cards on: the practical rules past physical fit.

A board that takes the cards (``platforms.physical_fit``) is not yet a host anyone would
buy for them. Two rules decide between the hosts that fit, and the planner offers the
cheapest host that passes both, not the cheapest host overall:

- **RAM**: the host holds the weights it loads onto the cards, plus the OS. llama.cpp
  with ``--no-mmap`` reads the whole file into RAM before it copies layers to the cards
  (https://github.com/ggml-org/llama.cpp/issues/9059, 2024-08-16), and with the default
  mmap a host smaller than the file cannot keep it cached, so every start reads it from
  disk again while the rest of the system fights for memory
  (https://github.com/ggml-org/llama.cpp/issues/1964, 2023-06-22). Build guides give the
  same figure: 64 GB of system RAM for a 70B at Q4, 128 GB for 120-180B
  (https://hardwarehq.io/llm-hardware-requirements, undated page). The RAM is bought as the
  platform's modules (``Platform.ram_fill``) and priced; a board that cannot hold that
  much is not offered.
- **Narrow links**: a host whose cards get x1 risers (a mining board) is offered only for
  what such rigs are built with, as its data says (``Platform.max_card_usd``,
  ``min_cards``): several cheap cards. A buyer of a $2,000 card pays for a host with
  full links; one or two cards go in a desktop.

Pure.
"""

from __future__ import annotations

import math

from sizing.core.platforms import Platform

OS_RESERVE_GB = 8.0  # the OS, the desktop and llama-server's own heap stay in RAM beside the model
MIN_GPU_HOST_RAM_GB = 32.0  # the least RAM a GPU build is given, whatever the model
RAM_RULE = (
    "host RAM ≥ the weights it loads + 8 GB for the OS (llama.cpp --no-mmap reads the whole file "
    "into RAM first: https://github.com/ggml-org/llama.cpp/issues/9059)"
)


def gpu_host_ram_gb(weights_gib: float) -> float:
    """The RAM a GPU build's host needs for ``weights_gib`` of weights loaded onto its cards.
    DIMMs are sold in binary sizes, so a "32 GB" module holds 32 GiB: the units match."""
    return max(MIN_GPU_HOST_RAM_GB, math.ceil(weights_gib + OS_RESERVE_GB))


def ram_check(ram_gb: float, weights_gib: float) -> tuple[bool, str]:
    """Whether ``ram_gb`` of host RAM passes the RAM rule for ``weights_gib``, and the
    figures a row states either way."""
    need = weights_gib + OS_RESERVE_GB
    ok = ram_gb >= need
    sign = "≥" if ok else "<"
    return ok, (f"host RAM {ram_gb:.0f} GB {sign} {weights_gib:.0f} GiB of weights + {OS_RESERVE_GB:.0f} GB for the OS")


def host_refusal(platform: Platform, card_usd: float, count: int) -> str | None:
    """Why ``count`` cards at ``card_usd`` each do not go on ``platform`` although they fit
    it (None when they may): the platform's own limits on what it is bought for."""
    if platform.max_card_usd is not None and card_usd > platform.max_card_usd:
        return (
            f"a ${card_usd:,.0f} card exceeds the ${platform.max_card_usd:,.0f} per card this host is built "
            f"for ({platform.host_rule_source})"
        )
    if count < platform.min_cards:
        return f"{count} card{'s' if count > 1 else ''}: this host is built for {platform.min_cards} or more"
    return None


def host_rule_met(platform: Platform, card_usd: float, count: int) -> str:
    """The platform's own limits that ``count`` cards at ``card_usd`` pass, as a row states
    them ("" when the platform sets none)."""
    parts = []
    if platform.max_card_usd is not None:
        parts.append(f"cards ≤ ${platform.max_card_usd:,.0f} each (these: ${card_usd:,.0f})")
    if platform.min_cards > 1:
        parts.append(f"{platform.min_cards} or more cards (these: {count})")
    if not parts:
        return ""
    return f"this host is built for {' and '.join(parts)} ({platform.host_rule_source})"


def load_seconds(weights_bytes: float, link_gbs: float) -> float:
    """The least time the weights take to cross one PCIe link of ``link_gbs`` (GB/s, the
    spec's payload rate): llama.cpp copies the tensors one after another, so the layers
    of every card cross at that rate in turn; measured copies run below the spec rate, and
    the disk read comes on top."""
    return weights_bytes / (link_gbs * 1e9)


def load_note(weights_bytes: float, link_gbs: float, link: str) -> str:
    """A row's note on how long the weights take to reach the cards over narrow links."""
    s = load_seconds(weights_bytes, link_gbs)
    took = f"~{s / 60:.1f} min" if s >= 90 else f"~{s:.0f} s"
    return (
        f"loading: the {weights_bytes / 2**30:.0f} GiB of weights cross {link} at ≤ {link_gbs:.2f} GB/s "
        f"(PCIe spec payload rate), one tensor after another: at least {took} per start, "
        "plus the disk read"
    )
