"""Size a published GGUF from its header alone, read with HTTP range requests.

Users often know a GGUF repository and quant (``unsloth/…``, ``bartowski/…``) rather than a
config. The header names every tensor with its type and shape, so reading it is as exact
as having the file, and it sits at the start: a 100 GB model needs its first megabytes.

Accepted names:
- ``hf://owner/repo/path/file.gguf`` (``hf://owner/repo@revision/…`` for a revision),
- ``owner/repo:QUANT`` as llama.cpp's ``-hf`` takes it, and Ollama's ``hf.co/owner/repo:QUANT``,
- an ``https://…/file.gguf`` URL.

Reads go through ``huggingface_hub``'s HTTP session (its token, headers and endpoint) and
ask for as few bytes as the header needs, growing the range when the parser runs past
what it has (``gguf_reader.NeedMoreBytes``): a partial header is never parsed as whole. A
server that ignores ``Range`` is refused rather than downloaded. Headers are cached next
to the hub cache, bounded in size, so a repeated estimate, or one offline, reads nothing.
A model split by gguf-split (``-00001-of-0000N``) is read part by part and summed. In web
mode (``LLM_SIZING_WEB_MODE=1``) only Hugging Face hosts are fetched, redirects included.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import threading
import time
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, ConfigDict

from sizing.env import hf_offline, web_mode
from sizing.errors import SizingError
from sizing.units import MIB
from sizing.sources.gguf_reader import (
    GGUFModel,
    NeedMoreBytes,
    _check_data,
    _file_type,
    _parse,
    arch_from_header,
)
from sizing.core.tensors import TensorSpec, llama_order

FIRST_READ = 256 * 1024  # most headers of small-vocabulary models fit here
GROWTH = 1.5  # each further read asks for half again what is held (at most that much waste)
MAX_HEADER_BYTES = 96 * MIB  # far above any real header (262k-token vocabularies: ~8 MB)
MAX_PARTS = 512
TIMEOUT_S = 20.0
MAX_REDIRECTS = 5
CACHE_MAX_BYTES = 256 * MIB
HF_HOSTS = ("huggingface.co", "hf.co")

_SPLIT = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.I)
_QUANT = re.compile(r"(?i)(?:^|[-_.])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|BF16|F16|F32|MXFP4(?:_MOE)?))$")
_HF_SHORT = re.compile(
    r"^(?:(?:https?://)?(?:hf\.co|huggingface\.co)/)?(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+):(?P<quant>[\w.-]+)$"
)
_HF_URI = re.compile(r"^hf://(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+?)(?:@(?P<rev>[\w.-]+))?/(?P<file>.+\.gguf)$", re.I)
_HF_RESOLVE = re.compile(
    r"^/(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)/(?:resolve|blob)/(?P<rev>[^/]+)/(?P<file>.+\.gguf)$", re.I
)


class RemoteRef(BaseModel):
    """One remote GGUF file: where to read it and how to name it to the user."""

    model_config = ConfigDict(frozen=True)

    url: str
    label: str
    repo: str | None = None
    filename: str | None = None
    revision: str = "main"


class RepoGGUF(BaseModel):
    """A GGUF model in a repo: its quant, its file (the first part if split), parts, bytes."""

    model_config = ConfigDict(frozen=True)

    quant: str
    filename: str
    parts: int
    size: int | None = None


def _endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _hf_hosts() -> set[str]:
    hosts = {h for h in HF_HOSTS}
    ep = urlsplit(_endpoint()).hostname
    if ep:
        hosts.add(ep.lower())
    return hosts


def is_hf_host(host: str | None) -> bool:
    """A Hugging Face host: the Hub, its CDN/storage subdomains, or the configured endpoint."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    return host in _hf_hosts() or any(host.endswith("." + h) for h in HF_HOSTS)


def is_remote_spec(spec: str) -> bool:
    """Is this a remote GGUF name (hf://, owner/repo:QUANT, hf.co/…:QUANT, an https URL)?"""
    s = spec.strip()
    low = s.lower()
    if low.startswith("hf://"):
        return True
    if low.startswith(("https://", "http://")):
        return True
    return bool(_HF_SHORT.match(s))


def hf_file_url(repo: str, filename: str, revision: str = "main") -> str:
    return f"{_endpoint()}/{repo}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def quant_of(filename: str) -> str | None:
    """The quant a GGUF file name states (``…-Q4_K_M.gguf``, ``…-UD-IQ2_XXS-00001-of-00003.gguf``)."""
    name = filename.rsplit("/", 1)[-1]
    m = _SPLIT.match(name)
    stem = m.group("prefix") if m else re.sub(r"(?i)\.gguf$", "", name)
    q = _QUANT.search(stem)
    return q.group(1).upper() if q else None


def parse_spec(spec: str) -> RemoteRef | tuple[str, str]:
    """A ``RemoteRef`` for a file, or ``(repo, quant)`` for an ``owner/repo:QUANT`` name."""
    s = spec.strip()
    m = _HF_URI.match(s)
    if m:
        repo, rev, filename = m.group("repo"), m.group("rev") or "main", m.group("file")
        return RemoteRef(
            url=hf_file_url(repo, filename, rev),
            label=f"hf://{repo}/{filename}",
            repo=repo,
            filename=filename,
            revision=rev,
        )
    if s.lower().startswith("hf://"):
        raise SizingError(f"{s}: expected hf://owner/repo/file.gguf")
    m = _HF_SHORT.match(s)
    if m:
        return m.group("repo"), m.group("quant")
    if s.lower().startswith(("https://", "http://")):
        u = urlsplit(s)
        if not u.hostname:
            raise SizingError(f"{s}: not a valid URL")
        if u.scheme != "https" and not (is_hf_host(u.hostname) and not web_mode()):
            raise SizingError(f"{s}: only https:// URLs are read")
        if not unquote(u.path).lower().endswith(".gguf"):
            raise SizingError(f"{s}: not a .gguf URL")
        if web_mode() and not is_hf_host(u.hostname):
            raise SizingError(f"{s}: in web mode only Hugging Face GGUF files are read (host {u.hostname})")
        r = _HF_RESOLVE.match(unquote(u.path)) if is_hf_host(u.hostname) else None
        if r:
            return RemoteRef(url=s, label=s, repo=r.group("repo"), filename=r.group("file"), revision=r.group("rev"))
        return RemoteRef(url=s, label=s)
    raise SizingError(f"{s}: not a remote GGUF (hf://owner/repo/file.gguf, owner/repo:QUANT or https://…/file.gguf)")


# --------------------------------------------------------------------------------------
# HTTP


def _hf_error(status: int, headers: Any, label: str) -> SizingError | None:
    code = (headers.get("X-Error-Code") or "").strip()
    if status in (401, 403):
        if code == "GatedRepo" or status == 403:
            return SizingError(
                f"{label}: gated or private (HTTP {status}): accept the repo's licence on Hugging Face "
                "and log in (`hf auth login` or HF_TOKEN)"
            )
        return SizingError(f"{label}: not authorised (HTTP {status}): a private or gated repo needs HF_TOKEN")
    if status == 404:
        what = {
            "RepoNotFound": "no such repo",
            "EntryNotFound": "no such file in the repo",
            "RevisionNotFound": "no such revision",
        }.get(code, "not found")
        return SizingError(f"{label}: {what} (HTTP 404)")
    return None


class _Fetcher:
    """Range reads of one URL through huggingface_hub's session, counting the bytes."""

    def __init__(self, ref: RemoteRef, timeout_s: float = TIMEOUT_S) -> None:
        self.ref, self.timeout_s = ref, timeout_s
        self.bytes_read = 0
        self.requests = 0
        self.total: int | None = None
        self._url = ref.url
        self._lock = threading.Lock()

    def _headers(self, start: int, end: int) -> dict[str, str]:
        h = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
        if is_hf_host(urlsplit(self._url).hostname):
            from huggingface_hub.utils import build_hf_headers

            h.update(build_hf_headers())
        return h

    def get(self, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of the file (fewer only at its end)."""
        from huggingface_hub import get_session

        session = get_session()
        # the HTTP client huggingface_hub runs on (httpx, or its fork httpx2): its own errors
        httpx = importlib.import_module(type(session).__module__.split(".")[0])
        label = self.ref.label
        end = start + length - 1
        url = self._url
        for _ in range(MAX_REDIRECTS + 1):
            host = urlsplit(url).hostname
            if web_mode() and not is_hf_host(host):
                raise SizingError(f"{label}: in web mode only Hugging Face hosts are read (redirected to {host})")
            with self._lock:
                self.requests += 1
            try:
                with session.stream(
                    "GET", url, headers=self._headers(start, end), follow_redirects=False, timeout=self.timeout_s
                ) as r:
                    if r.status_code in (301, 302, 303, 307, 308):
                        loc = r.headers.get("Location")
                        if not loc:
                            raise SizingError(f"{label}: redirect (HTTP {r.status_code}) without a location")
                        url = str(httpx.URL(url).join(loc))
                        continue
                    err = _hf_error(r.status_code, r.headers, label)
                    if err:
                        raise err
                    if r.status_code == 416:
                        raise SizingError(f"{label}: truncated file (the server has no byte {start})")
                    if r.status_code == 200:
                        raise SizingError(
                            f"{label}: the server does not support range requests (it answered with the whole file); "
                            "download the file and pass its path instead"
                        )
                    if r.status_code != 206:
                        raise SizingError(f"{label}: HTTP {r.status_code} from {host}")
                    total = _content_range_total(r.headers.get("Content-Range"), start, label)
                    got = bytearray()
                    for chunk in r.iter_bytes():
                        got += chunk
                        if len(got) >= length:
                            break
                    data = bytes(got[:length])
            except SizingError:
                raise
            except httpx.TimeoutException:
                raise SizingError(f"{label}: timed out after {self.timeout_s:g} s reading the header") from None
            except httpx.HTTPError as e:
                raise SizingError(f"{label}: cannot reach {host} ({type(e).__name__})") from None
            with self._lock:
                self._url = url  # later reads go straight to where the file is
                self.bytes_read += len(data)
                known = self.total
                if known is None:
                    self.total = total
            if known is not None and total != known:
                raise SizingError(f"{label}: the file changed while its header was read ({known} -> {total} bytes)")
            want = min(length, total - start)
            if len(data) < want:
                raise SizingError(
                    f"{label}: the server sent {len(data)} of {want} bytes asked for (transfer cut short)"
                )
            return data
        raise SizingError(f"{label}: more than {MAX_REDIRECTS} redirects")


def _content_range_total(value: str | None, start: int, label: str) -> int:
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+)\s*", value or "")
    if not m or int(m.group(1)) != start:
        raise SizingError(f"{label}: the server's answer to a range request has no usable Content-Range ({value!r})")
    return int(m.group(3))


# --------------------------------------------------------------------------------------
# header cache (bounded): the byte ranges a header read needed, replayed offline


def _cache_dir():
    from sizing.sources.hf import hub_cache_dir

    return hub_cache_dir() / "llm-sizing" / "gguf-headers"


def _cache_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def _cache_get(url: str) -> tuple[list[tuple[int, bytes]], int] | None:
    d = _cache_dir()
    key = _cache_key(url)
    try:
        meta = json.loads((d / (key + ".json")).read_text())
        blob = (d / (key + ".bin")).read_bytes()
        if meta.get("url") != url or not isinstance(meta.get("total"), int):
            return None
        pieces, at = [], 0
        for start, length in meta["pieces"]:
            pieces.append((int(start), blob[at : at + int(length)]))
            at += int(length)
        if at != len(blob):
            return None
        (d / (key + ".bin")).touch()  # recently used: evicted last
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pieces, meta["total"]


def _cache_put(url: str, pieces: list[tuple[int, bytes]], total: int) -> None:
    """Store a header's byte ranges; then drop the least recently used entries over the bound."""
    d = _cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        key = _cache_key(url)
        (d / (key + ".bin")).write_bytes(b"".join(b for _, b in pieces))
        (d / (key + ".json")).write_text(
            json.dumps({"url": url, "total": total, "pieces": [[s, len(b)] for s, b in pieces], "stored": time.time()})
        )
        newest = d / (key + ".bin")
        entries = sorted((p for p in d.glob("*.bin") if p != newest), key=lambda p: p.stat().st_mtime)
        used = sum(p.stat().st_size for p in entries) + newest.stat().st_size
        for p in entries:  # least recently used first; the entry just read always stays
            if used <= CACHE_MAX_BYTES:
                break
            used -= p.stat().st_size
            p.unlink(missing_ok=True)
            p.with_suffix(".json").unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only costs a re-read


class _Source:
    """The file's bytes as far as they have been read: cached ranges first, then the network."""

    def __init__(
        self, ref: RemoteRef, timeout_s: float, pieces: list[tuple[int, bytes]] | None = None, total: int | None = None
    ) -> None:
        self.ref = ref
        self.fetcher: _Fetcher | None = None
        self.timeout_s = timeout_s
        self.pieces: list[tuple[int, bytes]] = sorted(pieces or [])
        self.total = total

    @property
    def bytes_read(self) -> int:
        return self.fetcher.bytes_read if self.fetcher else 0

    @property
    def requests(self) -> int:
        return self.fetcher.requests if self.fetcher else 0

    def _fetch(self, start: int, length: int) -> bytes:
        if self.fetcher is None:
            if hf_offline():
                raise SizingError(
                    f"{self.ref.label}: offline and its header is not cached (unset HF_HUB_OFFLINE to read it)"
                )
            self.fetcher = _Fetcher(self.ref, self.timeout_s)
        data = self.fetcher.get(start, length)
        if self.total is None:
            self.total = self.fetcher.total
        elif self.fetcher.total != self.total:
            raise SizingError(f"{self.ref.label}: the file changed since its header was cached")
        return data

    def _add(self, start: int, data: bytes) -> None:
        merged: list[tuple[int, bytes]] = []
        for s, b in sorted([*self.pieces, (start, data)]):
            if merged and s <= merged[-1][0] + len(merged[-1][1]):
                ms, mb = merged[-1]
                if s + len(b) > ms + len(mb):
                    mb = mb + b[ms + len(mb) - s :]
                merged[-1] = (ms, mb)
            else:
                merged.append((s, b))
        self.pieces = merged

    def prefetch(self, ranges: list[tuple[int, int]]) -> None:
        """Fetch several (start, length) ranges at once (in parallel): probes cost one round trip."""
        from concurrent.futures import ThreadPoolExecutor

        assert self.total is not None
        todo = [
            (st, min(n, self.total - st))
            for st, n in ranges
            if st < self.total and not self.covers(st, min(st + n, self.total))
        ]
        if not todo:
            return
        if self.fetcher is None:
            self._fetch(todo[0][0], 1)  # sets up the fetcher (and the offline check) once
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(todo))) as pool:
            got = list(pool.map(lambda r: (r[0], self._fetch(*r)), todo))
        for st, data in got:
            self._add(st, data)

    def covers(self, start: int, end: int) -> bool:
        return any(s <= start and end <= s + len(b) for s, b in self.pieces)

    def read(self, start: int, length: int) -> bytes:
        """Bytes [start, start+length), clipped to the file; fetches only what is missing at the end."""
        if self.total is None:
            self._add(0, self._fetch(0, max(length + start, FIRST_READ)))
        assert self.total is not None
        length = max(0, min(length, self.total - start))
        for s, b in self.pieces:
            if s <= start < s + len(b):
                have = b[start - s : start - s + length]
                if len(have) == length:
                    return have
                self._add(start + len(have), self._fetch(start + len(have), length - len(have)))
                return self.read(start, length)
        self._add(start, self._fetch(start, length))
        return self.read(start, length)


class HeaderRead(BaseModel):
    """One part's header: what was parsed, and what reading it cost."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    meta: dict[str, Any]
    tensors: list[TensorSpec]
    data_offset: int
    file_size: int
    bytes_read: int
    requests: int
    cached: bool
    #: metadata entries inside the tokenizer lists that were stepped over unread (their
    #: content never sizes anything); their number is known, their keys are not
    skipped_entries: int = 0


def _contiguous(src: _Source, label: str):
    """Parse the header from a prefix that grows until the parser stops asking for more."""
    have = max([FIRST_READ] + [len(b) for st, b in src.pieces if st == 0])  # all a cache already holds
    have = min(have, src.total or have)
    while True:
        data = src.read(0, have)
        assert src.total is not None
        try:
            return _parse(label, data, src.total, avail=len(data))
        except NeedMoreBytes as more:
            if more.needed > MAX_HEADER_BYTES:
                raise SizingError(f"{label}: GGUF header larger than {MAX_HEADER_BYTES // MIB} MiB; refused") from None
            have = min(max(more.needed, int(len(data) * GROWTH)), src.total)


def read_remote_header(ref: RemoteRef, *, timeout_s: float = TIMEOUT_S, use_cache: bool = True) -> HeaderRead:
    """Parse one remote file's header, fetching only what it needs (nothing, if cached).

    A long token or merge list is stepped over without being downloaded when the tensor
    table after it can be found and checked end to end (``_skip_tokenizer``); otherwise
    the header is read whole.
    """
    hit = _cache_get(ref.url) if use_cache else None
    src = _Source(ref, timeout_s, *(hit if hit else (None, None)))
    parsed = _skip_tokenizer(src, ref.label)
    skipped = 0
    if parsed is None:
        off, meta, tensors, offsets = _contiguous(src, ref.label)
    else:
        off, meta, tensors, offsets, skipped = parsed
    assert src.total is not None
    _check_data(ref.label, src.total, off, tensors, offsets)
    if use_cache and src.fetcher is not None:
        _cache_put(ref.url, src.pieces, src.total)
    return HeaderRead(
        meta=meta,
        tensors=tensors,
        data_offset=off,
        file_size=src.total,
        bytes_read=src.bytes_read,
        requests=src.requests,
        cached=src.fetcher is None,
        skipped_entries=skipped,
    )


# --------------------------------------------------------------------------------------
# stepping over the tokenizer lists
#
# A header is: counts, metadata entries, tensor infos, padding, data. The token and merge
# lists (hundreds of thousands of length-prefixed strings, several MB for a 150k-token
# vocabulary) sit between the hyper-parameters and the tensor infos, and nothing sizes
# with them. Their byte length cannot be known without reading every string, so instead
# the tensor-info table is found after them: probe windows spaced closer than the table's
# smallest possible length (so one must land inside it), recognise an entry there, walk
# back entry by entry to the one at data offset 0, then read the table forward and check
# it whole: the declared tensor count, each offset following from the previous tensor's
# size, and the last tensor ending where the file ends. The metadata entries between the
# lists and the table are walked back from the table the same way. Anything that does not
# check out falls back to reading the header whole.

SKIP_ITEMS = 4096  # string lists longer than this are stepped over
_MIN_INFO = 8 + 1 + 4 + 8 + 4 + 8  # smallest tensor info: name length, 1 char, dims, one dim, type, offset
_MAX_INFO = 8 + 256 + 4 + 8 * 4 + 4 + 8
_TENSOR_NAME = re.compile(rb"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)+")
_KEY = re.compile(rb"[a-z0-9_]+(?:\.[a-z0-9_\-]+)+")
_PROBE = 4 * 1024  # bytes per probe for the tensor table
PARALLEL = 8  # probes in flight at once
_BLOCK = 64 * 1024  # bytes per read when walking the table


def _info_at(buf: bytes, o: int, align: int, total: int):
    """A tensor info starting at ``buf[o]``: (name, shape, type, offset, nbytes, end) or None."""
    import struct

    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    if o < 0 or o + _MIN_INFO > len(buf):
        return None
    n = struct.unpack_from("<Q", buf, o)[0]
    if not 1 <= n <= 256 or o + 8 + n + 4 > len(buf):
        return None
    name = buf[o + 8 : o + 8 + n]
    if not _TENSOR_NAME.fullmatch(name):
        return None
    p = o + 8 + n
    nd = struct.unpack_from("<I", buf, p)[0]
    if not 1 <= nd <= 4 or p + 4 + 8 * nd + 12 > len(buf):
        return None
    shape = struct.unpack_from("<" + "Q" * nd, buf, p + 4)
    p += 4 + 8 * nd
    t, off = struct.unpack_from("<IQ", buf, p)
    try:
        gt = GGMLQuantizationType(t)
        bs, ts = GGML_QUANT_SIZES[gt]
    except (ValueError, KeyError):
        return None
    if any(d == 0 or d >= 2**40 for d in shape) or shape[0] % bs or off % align or off >= total:
        return None
    elems = 1
    for d in shape:
        elems *= d
    return name.decode(), shape, gt.name, off, elems // bs * ts, p + 12


_INFO_START = re.compile(rb"(?s)[\x01-\xff]\x00{7}(?=[A-Za-z0-9_]+\.)")


def _candidates(buf: bytes, lo: int = 0, hi: int | None = None) -> list[int]:
    """Offsets in ``buf`` where a tensor info could start: a small name length, then a name."""
    return [m.start() for m in _INFO_START.finditer(buf, lo, len(buf) if hi is None else hi)]


def _aligned(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _skip_tokenizer(src: _Source, label: str):
    """(data offset, metadata, tensors, offsets, skipped entries) without reading the
    tokenizer lists, or None when the header has none worth skipping or does not check out."""
    import struct

    from gguf.constants import GGUFValueType

    from sizing.sources.gguf_reader import GGUFArray, _Cursor

    head = src.read(0, FIRST_READ)
    total = src.total
    assert total is not None
    c = _Cursor(head, total, label, avail=len(head))
    try:
        if head[:4] != b"GGUF":
            return None
        c.pos = 4
        if c.u32("version") not in (2, 3):
            return None
        n_tensors, n_kv = c.u64("tensor count"), c.u64("metadata count")
        if n_tensors == 0 or n_kv * 14 > total or n_tensors * _MIN_INFO > total:
            return None
        meta: dict[str, Any] = {}
        big = None
        for i in range(n_kv):
            key = c.string(f"key of metadata entry {i}", 65_535)
            vt = c.value_type(f"metadata {key!r}")
            if vt == GGUFValueType.ARRAY:
                save = c.pos
                it, n = c.u32("items"), c.u64("length")
                if it == GGUFValueType.STRING and n > SKIP_ITEMS:
                    big = (i, key, n, c.pos)
                    break
                c.pos = save
            meta[key] = c.value(vt, f"metadata {key!r}")
    except (NeedMoreBytes, SizingError):
        return None  # an unusual header: the whole-header path reads it (and reports its faults)
    if big is None:
        return None
    i_big, key_big, n_items, p = big
    align = meta.get("general.alignment", 32)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        return None
    # a window wholly inside the table holds several entries; windows spaced by the table's
    # smallest length less one window cannot all miss it
    table_min = n_tensors * _MIN_INFO
    stride = table_min - _PROBE
    if stride < 4 * _PROBE:
        return None  # a small table: probing would save little and cost many round trips
    pos = p + 8 * n_items  # every string costs at least its 8-byte length
    found = None
    while found is None:
        if pos >= total or pos > MAX_HEADER_BYTES:
            return None
        batch = [pos + k * stride for k in range(PARALLEL)]
        src.prefetch([(b, _PROBE) for b in batch])
        for b in batch:
            if b >= total:
                break
            win = src.read(b, _PROBE)
            for o in _candidates(win):
                e = _info_at(win, o, align, total)
                if e is None:
                    continue
                nxt = _info_at(win, e[5], align, total)
                if nxt is not None and nxt[3] == e[3] + _aligned(e[4], align):
                    found = (b + o, e)
                    break
            if found:
                break
        pos += PARALLEL * stride
    # walk back to the tensor whose data is at offset 0: the table's first entry
    at, entry = found
    steps = 0
    while entry[3] != 0:
        lo = max(p, at - _MAX_INFO)
        if not src.covers(lo, at):
            src.read(max(p, at - _BLOCK), at - max(p, at - _BLOCK))
        back = src.read(lo, at - lo)
        prev = None
        for o in reversed(_candidates(back)):
            e = _info_at(back, o, align, total)
            if e is not None and e[5] == len(back) and e[3] + _aligned(e[4], align) == entry[3]:
                prev = (lo + o, e)
                break
        if prev is None:
            return None
        at, entry = prev
        steps += 1
        if steps > n_tensors:
            return None
    table = at
    # read the table forward, whole
    tensors, offsets = [], []
    q, expect = table, 0
    for _ in range(n_tensors):
        if not src.covers(q, min(q + _MAX_INFO, total)):
            src.read(q, _BLOCK)
        buf = src.read(q, _MAX_INFO)
        e = _info_at(buf, 0, align, total)
        if e is None or e[3] != expect:
            return None
        name, shape, tname, off, nbytes, end = e
        tensors.append(TensorSpec(name=name, shape=tuple(shape), ggml_type=tname))
        offsets.append(off)
        expect = off + _aligned(nbytes, align)
        last_end = off + nbytes
        q += end
        if q > MAX_HEADER_BYTES:
            return None
    data_offset = _aligned(q, align)
    if not data_offset + last_end <= total < data_offset + last_end + 2 * align:
        return None  # the data would not end where the file does: not this table
    # metadata entries between the skipped lists and the table, walked back from it
    after: list[tuple[str, Any]] = []
    arch = meta.get("general.architecture")
    prefixes = (b"general.", b"tokenizer.", b"split.", b"quantize.") + (
        (arch.encode() + b".",) if isinstance(arch, str) else ()
    )
    boundary = table
    remaining = n_kv - i_big - 1
    while remaining > 0:
        lo = max(p, boundary - 64 * 1024)
        back = src.read(lo, boundary - lo)
        got = None
        for o in range(len(back) - 13, -1, -1):
            n = struct.unpack_from("<Q", back, o)[0]
            if not 1 <= n <= 256 or o + 8 + n > len(back):
                continue
            k = back[o + 8 : o + 8 + n]
            if not k.startswith(prefixes) or not _KEY.fullmatch(k):
                continue
            kc = _Cursor(back, len(back), label)
            kc.pos = o + 8 + n
            try:
                vt = kc.value_type("value")
                v = kc.value(vt, "value")
            except (SizingError, NeedMoreBytes):
                continue
            if kc.pos == len(back):
                got = (lo + o, k.decode(), v)
                break
        if got is None:
            break
        boundary = got[0]
        after.append((got[1], got[2]))
        remaining -= 1
    meta[key_big] = GGUFArray(item_type="STRING", length=n_items)
    for k, v in reversed(after):
        meta[k] = v
    if meta.get("general.alignment", 32) != align:
        return None
    return data_offset, meta, tensors, offsets, remaining


class RemoteGGUF(BaseModel):
    """A remote GGUF model read from its header(s), with the cost of reading them."""

    model_config = ConfigDict(frozen=True)

    model: GGUFModel
    parts: int
    bytes_read: int
    requests: int
    cached: bool


def _part_refs(ref: RemoteRef, count: int) -> list[RemoteRef]:
    name = ref.url.rsplit("/", 1)[-1]
    m = _SPLIT.match(unquote(name.split("?", 1)[0]))
    if m is None or int(m.group("count")) != count:
        raise SizingError(
            f"{ref.label}: part of a model split in {count} files, but its name does not follow "
            "<name>-00001-of-0000N.gguf, so the other parts cannot be found"
        )
    if count > MAX_PARTS:
        raise SizingError(f"{ref.label}: split in {count} parts (at most {MAX_PARTS})")
    base_url = ref.url[: ref.url.rfind("/") + 1]
    refs = []
    for i in range(1, count + 1):
        part = f"{m.group('prefix')}-{i:05d}-of-{count:05d}.gguf"
        url = base_url + quote(part)
        label = ref.label[: ref.label.rfind("/") + 1] + part if "/" in ref.label else part
        fn = None
        if ref.filename:
            fn = (ref.filename.rsplit("/", 1)[0] + "/" + part) if "/" in ref.filename else part
        refs.append(RemoteRef(url=url, label=label, repo=ref.repo, filename=fn, revision=ref.revision))
    return refs


def read_remote_gguf(ref: RemoteRef, *, timeout_s: float = TIMEOUT_S) -> RemoteGGUF:
    """Architecture, typed tensors, quant and total size of a remote GGUF, split or not."""
    first = read_remote_header(ref, timeout_s=timeout_s)
    meta, tensors, total = first.meta, list(first.tensors), first.file_size
    reads = [first]
    count = meta.get("split.count")
    if isinstance(count, int) and count > 1:
        refs = _part_refs(ref, count)
        no = meta.get("split.no")
        if isinstance(no, int) and no != 0:  # given a later part: start from the first
            first = read_remote_header(refs[0], timeout_s=timeout_s)
            meta, tensors, total, reads = first.meta, list(first.tensors), first.file_size, [first]
            ref = refs[0]
        for r in refs[1:]:
            part = read_remote_header(r, timeout_s=timeout_s)
            tensors += part.tensors
            total += part.file_size
            reads.append(part)
        want = meta.get("split.tensors.count")
        if isinstance(want, int) and want != len(tensors):
            raise SizingError(f"{ref.label}: split model declares {want} tensors, its parts hold {len(tensors)}")
    name = (ref.filename or ref.url.rsplit("/", 1)[-1]).rsplit("/", 1)[-1]
    stem = _SPLIT.sub(lambda m: m.group("prefix"), name)
    stem = re.sub(r"(?i)\.gguf$", "", stem)
    model_id = f"{ref.repo}/{stem}" if ref.repo else stem
    arch = arch_from_header(meta, tensors, id=model_id, source=f"GGUF header of {ref.label}")
    model = GGUFModel(
        path=ref.label,
        arch=arch,
        tensors=tuple(llama_order(tensors)),
        file_type=_file_type(meta, tensors, arch),
        file_size=total,
        data_offset=first.data_offset,
        metadata=meta,
    )
    return RemoteGGUF(
        model=model,
        parts=len(reads),
        bytes_read=sum(r.bytes_read for r in reads),
        requests=sum(r.requests for r in reads),
        cached=all(r.cached for r in reads),
    )


# --------------------------------------------------------------------------------------
# repos: which quants they publish


def list_repo_ggufs(repo: str, *, revision: str = "main") -> list[RepoGGUF]:
    """The GGUF models a Hub repo publishes, one per quant (split parts counted, not listed).

    Projector files (``mmproj*``) are left out: they are not language models.
    """
    import huggingface_hub as hub
    from huggingface_hub import errors

    from sizing.sources.hf import _quiet_hub, _unreachable, is_repo_id

    if not is_repo_id(repo):
        raise SizingError(f"{repo!r} is not a Hugging Face repo id (expected owner/name)")
    if web_mode() and not is_hf_host(urlsplit(_endpoint()).hostname):
        raise SizingError("in web mode only Hugging Face hosts are read")
    if hf_offline():
        raise SizingError(f"{repo}: offline; listing its GGUF files needs the Hub")
    down = _unreachable(_endpoint())  # one short connect: the Hub client would retry for long
    if down is not None:
        why = down.strerror or type(down).__name__
        raise SizingError(f"{repo}: cannot list its files: cannot reach Hugging Face ({why})")
    try:
        api = hub.HfApi(endpoint=_endpoint())
        with _quiet_hub():
            entries = [
                e
                for e in api.list_repo_tree(repo, revision=revision, recursive=True)
                if getattr(e, "path", "").lower().endswith(".gguf")
            ]
    except errors.GatedRepoError:
        raise SizingError(f"{repo}: gated repo: accept its licence on Hugging Face and log in") from None
    except errors.RepositoryNotFoundError:
        raise SizingError(f"{repo}: no such repo on Hugging Face (or it is private)") from None
    except errors.RevisionNotFoundError:
        raise SizingError(f"{repo}: revision {revision!r} not found") from None
    except (errors.HfHubHTTPError, OSError) as exc:
        raise SizingError(f"{repo}: cannot list its files ({type(exc).__name__})") from None
    found: dict[str, RepoGGUF] = {}
    for e in sorted(entries, key=lambda e: e.path):
        name = e.path.rsplit("/", 1)[-1]
        if name.lower().startswith("mmproj"):
            continue
        m = _SPLIT.match(name)
        if m and int(m.group("no")) != 1:
            continue
        quant = quant_of(e.path) or re.sub(r"(?i)\.gguf$", "", name)
        parts = int(m.group("count")) if m else 1
        size = getattr(e, "size", None)
        if m:
            prefix = e.path[: len(e.path) - len(name)] + m.group("prefix")
            sizes = [
                getattr(x, "size", None)
                for x in entries
                if x.path.startswith(prefix + "-") and _SPLIT.match(x.path.rsplit("/", 1)[-1])
            ]
            known = [s for s in sizes if isinstance(s, int)]
            size = sum(known) if sizes and len(known) == len(sizes) else None
        key = quant.upper()
        if key in found:
            key = f"{key} ({e.path})"
        found[key] = RepoGGUF(quant=quant, filename=e.path, parts=parts, size=size)
    return list(found.values())


def resolve_quant(repo: str, quant: str, *, revision: str = "main") -> RemoteRef:
    """The file ``owner/repo:QUANT`` names (llama.cpp's ``-hf`` and Ollama's ``hf.co/`` style)."""
    files = list_repo_ggufs(repo, revision=revision)
    if not files:
        raise SizingError(f"{repo}: has no GGUF files")
    q = quant.upper()
    match = [f for f in files if f.quant.upper() == q] or [f for f in files if f.quant.upper().endswith(q)]
    if not match:
        have = ", ".join(sorted({f.quant for f in files}))
        raise SizingError(f"{repo}: no {quant} GGUF; it has {have}")
    if len(match) > 1:
        raise SizingError(
            f"{repo}: {quant} names {len(match)} files ({', '.join(f.filename for f in match)}); "
            "pass hf://{repo}/FILE".replace("{repo}", repo)
        )
    f = match[0]
    return RemoteRef(
        url=hf_file_url(repo, f.filename, revision),
        label=f"{repo}:{f.quant}",
        repo=repo,
        filename=f.filename,
        revision=revision,
    )


def load_remote_gguf(spec: str, *, timeout_s: float = TIMEOUT_S) -> RemoteGGUF:
    """Any accepted remote GGUF name -> its model, from the header alone."""
    target = parse_spec(spec)
    if isinstance(target, tuple):
        target = resolve_quant(*target)
    return read_remote_gguf(target, timeout_s=timeout_s)
