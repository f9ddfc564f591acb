"""Match a device name, as a person or a driver writes it, to database entries.

Names arrive in many spellings: NVML ("NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB
HBM3", "Tesla V100-SXM2-16GB"), marketing ("RTX 4090", "4090 24GB"), ROCm ("AMD
Instinct MI300X", "AMD Radeon RX 7900 XTX") and macOS ("Apple M3 Max", with GPU cores
and memory read separately). The matcher normalises to tokens, pulls out memory size and
GPU core count as hints, and compares token sets. It never guesses between entries that
are equally good: it returns the candidates and lets the caller ask.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sizing.core.gpu import GPU

# Words that carry no identity ("NVIDIA", "(R)", "Graphics").
NOISE = frozenset(
    "nvidia amd ati intel apple corporation corp inc r tm graphics gpu chip card video "
    "with the edition generation".split()
)
# Family words people often drop ("4090" for "GeForce RTX 4090"): optional on the entry
# side, so their absence in a query costs nothing.
FAMILY = frozenset("geforce rtx gtx radeon rx quadro tesla instinct arc titan".split())

_MEM = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*(gb|gib|g)(?![a-z0-9])")
_CORES_GPU = re.compile(r"(\d+)\s*-?\s*(?:core|c)\s*gpu")
_CORES = re.compile(r"(?<![a-z0-9])(\d+)\s*-?\s*(?:cores?|c)(?![a-z0-9])")
_CPU_CORES = re.compile(r"(\d+)\s*-?\s*(?:core|c)\s*cpu")


class MatchResult(BaseModel):
    """The outcome of matching one name: a unique entry, candidates, or nothing."""

    model_config = ConfigDict(frozen=True)

    query: str
    status: Literal["matched", "ambiguous", "unknown"]
    gpu: GPU | None = None
    candidates: tuple[GPU, ...] = ()
    suggestions: tuple[str, ...] = ()  # closest names when unknown

    @property
    def matched(self) -> bool:
        return self.status == "matched"

    def message(self) -> str:
        """One line a CLI or UI can show (a long query is shortened, not echoed whole)."""
        q = repr(self.query if len(self.query) <= 80 else self.query[:80] + "…")
        if self.gpu is not None:
            return f"{q} is {self.gpu.name} ({self.gpu.id})"
        if self.status == "ambiguous":
            names = ", ".join(c.id for c in self.candidates[:12])
            more = f" (+{len(self.candidates) - 12} more)" if len(self.candidates) > 12 else ""
            return f"{q} is ambiguous: it matches several devices: {names}{more}"
        hint = f"; closest: {', '.join(self.suggestions)}" if self.suggestions else ""
        return f"unknown device {q}{hint}"


class Parsed(BaseModel):
    """A name reduced to identity tokens plus the hints it carried."""

    model_config = ConfigDict(frozen=True)

    tokens: frozenset[str]
    memory_gb: float | None = None
    gpu_cores: int | None = None


def parse_name(name: str) -> Parsed:
    """Lower-case, split on punctuation, pull out '24GB' and '40-core GPU'."""
    text = name.lower().replace("™", " ").replace("®", " ")
    text = re.sub(r"\((r|tm)\)", " ", text)
    memory = None
    m = _MEM.search(text)
    if m:
        memory = float(m.group(1))
        text = text[: m.start()] + " " + text[m.end() :]
    cores = None
    m = _CORES_GPU.search(text) or _CORES.search(_CPU_CORES.sub(" ", text))
    if m:
        cores = int(m.group(1))
    text = _CPU_CORES.sub(" ", text)
    text = _CORES_GPU.sub(" ", text)
    text = _CORES.sub(" ", text)
    # "a100-sxm4" -> "a100 sxm4"; keep "7900xtx" apart as "7900 xtx"
    text = re.sub(r"[^a-z0-9.]+", " ", text)
    text = re.sub(r"(?<=\d)(?=(xtx|xt|ti|gre|super)\b)", " ", text)
    tokens = frozenset(t for t in text.split() if t and t not in NOISE and t != ".")
    return Parsed(tokens=tokens, memory_gb=memory, gpu_cores=cores)


def _memory_close(entry_gb: float | None, hint: float) -> bool:
    # Drivers report usable or binary sizes (80 GB H100 -> 79.6 GiB, 24 GB -> 23.99 GiB;
    # Apple 36 GB -> 36 GiB); 10% absorbs that without confusing 16 with 24.
    if entry_gb is None:
        return False
    return abs(entry_gb - hint) <= 0.1 * max(entry_gb, hint)


class Matcher:
    """Precomputed name keys for fast repeated matching."""

    def __init__(self, gpus: Iterable[GPU]) -> None:
        self.gpus = tuple(gpus)
        # per entry: list of (tokens, memory hint in that name)
        self._keys: list[tuple[GPU, frozenset[str], float | None]] = []
        self._exact: dict[str, list[GPU]] = {}
        for g in self.gpus:
            for n in (g.name, *g.aliases, g.id):
                p = parse_name(n if n != g.id else n.replace("-", " "))
                self._keys.append((g, p.tokens, p.memory_gb))
                self._exact.setdefault(_norm(n), []).append(g)
        self._names = [g.name for g in self.gpus]

    def match(self, name: str, *, memory_gb: float | None = None, gpu_cores: int | None = None) -> MatchResult:
        query = name.strip()
        if not query:
            return MatchResult(query=name, status="unknown")
        parsed = parse_name(query)
        mem = memory_gb if memory_gb is not None else parsed.memory_gb
        cores = gpu_cores if gpu_cores is not None else parsed.gpu_cores

        exact = _unique(self._exact.get(_norm(query), []))
        if exact:
            return self._decide(query, {g.id: (g, 0) for g in exact}, mem, cores)

        scored: dict[str, tuple[GPU, int]] = {}
        q = parsed.tokens
        if not q:
            return self._unknown(query)
        for g, keys, key_mem in self._keys:
            if not q <= keys:
                continue
            if parsed.memory_gb is not None and key_mem is not None and key_mem != parsed.memory_gb:
                continue
            extra = len(keys - q - FAMILY)
            best = scored.get(g.id)
            if best is None or extra < best[1]:
                scored[g.id] = (g, extra)
        if not scored:
            return self._unknown(query)
        return self._decide(query, scored, mem, cores)

    def _decide(
        self,
        query: str,
        scored: dict[str, tuple[GPU, int]],
        mem: float | None,
        cores: int | None,
    ) -> MatchResult:
        pool = list(scored.values())
        if cores is not None:
            with_cores = [(g, s) for g, s in pool if g.gpu_cores == cores]
            if with_cores:
                pool = with_cores
        if mem is not None:
            close = [(g, s) for g, s in pool if _memory_close(g.memory_gb, mem)]
            if close:
                # the nearest capacity wins among entries that are otherwise alike
                nearest = min(abs((g.memory_gb or 0) - mem) for g, _ in close)
                pool = [(g, s) for g, s in close if abs((g.memory_gb or 0) - mem) == nearest]
        best = min(s for _, s in pool)
        top = [g for g, s in pool if s == best]
        ordered = tuple(g for g, _ in sorted(pool, key=lambda gs: (gs[1], gs[0].name)))
        if len(top) == 1 and (best == 0 or len(pool) == 1):
            return MatchResult(query=query, status="matched", gpu=top[0], candidates=(top[0],))
        if len(pool) == 1:
            return MatchResult(query=query, status="matched", gpu=pool[0][0], candidates=ordered)
        return MatchResult(query=query, status="ambiguous", candidates=ordered)

    def _unknown(self, query: str) -> MatchResult:
        close = difflib.get_close_matches(query, self._names, n=5, cutoff=0.5)
        return MatchResult(query=query, status="unknown", suggestions=tuple(close))


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _unique(gpus: list[GPU]) -> list[GPU]:
    seen: dict[str, GPU] = {}
    for g in gpus:
        seen.setdefault(g.id, g)
    return list(seen.values())
