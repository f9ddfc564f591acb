"""Page inputs that live in the URL, so a copied link reproduces the view exactly.

Every input of every page is declared once as a :class:`Param`. A :class:`PageState`
reads the query string into ``st.session_state`` (the widgets' keys) with validation,
and after the widgets have run writes their values back, leaving defaults out. A value
that does not parse (unknown model, ``ctx=-5``, ``quant=<script>``, a 10 KB string)
falls back to its default and the page shows one warning naming the parameter; nothing
in the query string can raise.

Lists travel element by element (``models=A&models=B``), so each element is checked on
its own: a list of Hugging Face repo ids is not one string with several slashes. The
older comma form (``models=A,B``) is still read. A parameter that holds one value but is
given several times is refused with a warning rather than silently reduced to the last.

Links never carry local file paths: string parameters that look like a path are refused
on the way in and never written on the way out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from sizing.text import plain
from sizing.ui.echo import inert

MAX_RAW_LEN = 200  # longer query values are tampering, not input: nothing we accept is this long
MAX_LIST_ITEMS = 16

# A Hugging Face repo id or a catalog id/alias: letters, digits and . _ - with at most
# one slash, never starting with a dot or slash (so never a path).
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._\-]{0,95})?$")
_PATH_HINTS = (".gguf", ".json", ".safetensors", "\\", "~", "..")


class ParamError(ValueError):
    """A query value that cannot be used; the message is shown to the user."""


def looks_like_path(text: str) -> bool:
    """True for anything that could name a local file: such values never enter a link."""
    t = text.strip()
    return (
        t.startswith(("/", ".", "~"))
        or any(h in t.lower() for h in _PATH_HINTS)
        or t.count("/") > 1
        or bool(re.match(r"^[A-Za-z]:", t))
    )


def safe_name(text: str) -> str:
    """Validate a model or device name typed by a user or read from a URL."""
    t = text.strip()
    if looks_like_path(t):
        raise ParamError("local file paths are not accepted in links")
    if not _NAME_RE.match(t):
        raise ParamError("not a valid name (letters, digits, '.', '_', '-', one '/')")
    return t


def _readable(x: float) -> str:
    """A bound as people write it: 16,777,216 rather than 1.67772e+07."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.4g}"


def _short(raw: str, n: int = 40) -> str:
    """A value quoted in a message: shortened and on one line (the message as a whole is
    made Markdown-inert where it is shown)."""
    return "“" + plain(raw, n) + "”"


@dataclass(frozen=True)
class Param:
    """One input of a page, as it appears in the URL.

    ``kind`` is one of ``str``, ``int``, ``float``, ``bool``, ``list`` (a repeated
    parameter; ``item`` is the kind of its elements, ``str`` or ``int``). ``choices`` (a
    sequence or a zero-argument callable returning one) limits the allowed values;
    ``check`` validates further and raises :class:`ParamError`.
    """

    name: str
    default: Any
    kind: str = "str"
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None
    lo: float | None = None
    hi: float | None = None
    check: Callable[[Any], Any] | None = None
    item: str = "str"

    def allowed(self) -> Sequence[Any] | None:
        return self.choices() if callable(self.choices) else self.choices

    # --- URL text -> value --------------------------------------------------------------
    def parse(self, raw: str | Sequence[str]) -> Any:
        """One URL value (or, for a list, the repeated values) -> a validated value."""
        if self.kind == "list":
            given = [raw] if isinstance(raw, str) else list(raw)
            if len(given) > MAX_LIST_ITEMS:
                raise ParamError(f"more than {MAX_LIST_ITEMS} items")
            items: list[str] = []
            for one in given:
                if len(one) > MAX_RAW_LEN:
                    raise ParamError(f"value is {len(one)} characters long")
                # the older comma form: models=A,B
                items.extend(v.strip() for v in one.split(",") if v.strip())
            if len(items) > MAX_LIST_ITEMS:
                raise ParamError(f"more than {MAX_LIST_ITEMS} items")
            return self.validate([self._scalar(v, self.item) for v in items])
        if not isinstance(raw, str):
            values = list(raw)
            if len(values) != 1:
                raise ParamError(f"given {len(values)} times; it takes one value")
            raw = values[0]
        if len(raw) > MAX_RAW_LEN:
            raise ParamError(f"value is {len(raw)} characters long")
        return self.validate(self._scalar(raw, self.kind))

    @staticmethod
    def _scalar(raw: str, kind: str) -> Any:
        if kind == "int":
            try:
                return int(raw)
            except ValueError:
                raise ParamError("not a whole number") from None
        if kind == "float":
            try:
                value = float(raw)
            except ValueError:
                raise ParamError("not a number") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise ParamError("not a finite number")
            return value
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ParamError("not true/false")
        return raw

    def validate(self, value: Any) -> Any:
        numeric = self.kind in ("int", "float") or (self.kind == "list" and self.item in ("int", "float"))
        if numeric:
            for v in value if self.kind == "list" else [value]:
                if self.lo is not None and v < self.lo:
                    raise ParamError(f"{_readable(v)} is below the minimum {_readable(self.lo)}")
                if self.hi is not None and v > self.hi:
                    raise ParamError(f"{_readable(v)} is above the maximum {_readable(self.hi)}")
        allowed = self.allowed()
        if allowed is not None:
            items = value if self.kind == "list" else [value]
            bad = [v for v in items if v not in allowed]
            if bad:
                raise ParamError(f"{_short(str(bad[0]))} is not one of the known values")
        if self.check is not None:
            value = self.check(value)
        return value

    # --- value -> URL text ---------------------------------------------------------------
    def dump(self, value: Any) -> str | list[str]:
        """URL text: a string, or for a list one string per element (a repeated parameter)."""
        if self.kind == "list":
            # an emptied list is written as one blank value (``models=``), so that the link
            # says "none" rather than falling back to the default
            return [self._dump_scalar(v, self.item) for v in value] or [""]
        return self._dump_scalar(value, self.kind)

    @staticmethod
    def _dump_scalar(value: Any, kind: str) -> str:
        if kind == "bool":
            return "1" if value else "0"
        if kind == "float":
            return f"{value:.12g}"  # 10000000, not 1e+07
        return str(value)


@dataclass
class PageState:
    """The URL-bound inputs of one page.

    Usage in a page::

        ps = PageState("run", PARAMS)
        ps.load()                       # URL -> st.session_state[ps.key(name)]
        st.selectbox("Quant", opts, key=ps.key("quant"))
        ...
        ps.sync()                       # st.session_state -> URL, defaults omitted
    """

    page: str
    params: list[Param]
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_name = {p.name: p for p in self.params}

    def key(self, name: str) -> str:
        """The widget key (and session_state key) of a parameter."""
        return f"{self.page}.{name}"

    def __getitem__(self, name: str) -> Any:
        return st.session_state.get(self.key(name), self._by_name[name].default)

    def set(self, name: str, value: Any) -> None:
        st.session_state[self.key(name)] = value

    @property
    def _written_key(self) -> str:
        return f"_url.{self.page}"

    def _url_view(self) -> dict[str, str | list[str]]:
        """The query values this page owns, as currently in the URL: a list for a list
        parameter or a repeated one, else a string (the shape :meth:`encoded` writes)."""
        qp = st.query_params
        out: dict[str, str | list[str]] = {}
        for p in self.params:
            if p.name not in qp:
                continue
            values = qp.get_all(p.name)
            out[p.name] = values if (p.kind == "list" or len(values) != 1) else values[0]
        return out

    def load(self) -> list[str]:
        """Fill session state from the URL when the URL is new to this session.

        The URL is authoritative when it differs from what this page last wrote (a shared
        link, a link from another page, the browser's back button). Returns (and keeps in
        ``self.warnings``) one message per rejected parameter.
        """
        url = self._url_view()
        written = st.session_state.get(self._written_key)
        if written is not None and (url == written or not url):
            # Our own write, or a return to this page (Streamlit clears the query string
            # on navigation): restore what this page last showed.
            for p in self.params:
                # (Streamlit drops a widget's state while its page is not shown.)
                if self.key(p.name) not in st.session_state:
                    st.session_state[self.key(p.name)] = self._value_from(written, p)
            if self.encoded() != written:
                # The user changed an input: the load-time warnings are stale now.
                st.session_state[f"_warn.{self.page}"] = []
            self.warnings = list(st.session_state.get(f"_warn.{self.page}", []))
            return self.warnings
        warnings: list[str] = []
        for p in self.params:
            raw = url.get(p.name)
            value = p.default
            if raw is not None:
                try:
                    value = p.parse(raw)
                except ParamError as exc:
                    warnings.append(f"Ignored URL parameter `{p.name}`: {inert(exc)}. Using the default.")
                except Exception:  # a check that failed unexpectedly is still bad input
                    warnings.append(f"Ignored URL parameter `{p.name}`: invalid value. Using the default.")
            st.session_state[self.key(p.name)] = value
        st.session_state[f"_warn.{self.page}"] = warnings
        st.session_state[self._written_key] = None  # force the next sync to write
        self.warnings = warnings
        return warnings

    def _value_from(self, written: dict[str, str | list[str]], p: Param) -> Any:
        if p.name not in written:
            return p.default
        try:
            return p.parse(written[p.name])
        except Exception:
            return p.default

    def values(self) -> dict[str, Any]:
        return {p.name: self[p.name] for p in self.params}

    def encoded(self) -> dict[str, str | list[str]]:
        """Non-default values as URL text (a list for a list parameter). A path-like
        string is never included; in a list, each element is checked on its own."""
        out: dict[str, str | list[str]] = {}
        for p in self.params:
            value = self[p.name]
            if value == p.default or value is None:
                continue
            text = p.dump(value)
            if isinstance(text, list):
                if p.item == "str":
                    text = [t for t in text if not looks_like_path(t)]
                if not text and value:
                    continue
            elif p.kind == "str" and looks_like_path(text):
                continue
            out[p.name] = text
        return out

    def sync(self) -> None:
        """Write the widgets' values to the URL, omitting defaults and foreign keys."""
        enc = self.encoded()
        qp = st.query_params
        for k in list(qp.keys()):
            if k not in enc:
                del qp[k]
        for k, v in enc.items():
            now = qp.get_all(k)
            if now != (v if isinstance(v, list) else [v]):
                qp[k] = v
        st.session_state[self._written_key] = enc

    def query_string(self) -> str:
        enc = self.encoded()
        return ("?" + urlencode(enc, doseq=True)) if enc else ""

    def show_warnings(self) -> None:
        for w in self.warnings:
            st.warning(w, icon=":material/warning:")


def share_link(ps: PageState, url_path: str) -> str:
    """The full link to this view: the server's address when known, else a relative one."""
    base = ""
    try:
        url = st.context.url
    except Exception:
        url = None
    if url:
        base = url.split("?", 1)[0].rstrip("/")
        # st.context.url is the page's own address; keep only scheme://host[:port]/prefix
        if base.endswith("/" + url_path):
            base = base[: -len(url_path) - 1]
    return f"{base}/{url_path}{ps.query_string()}"


COPY_BUTTON_HTML = """
<button id="b" title="Copy a link that reproduces this view">Copy link</button>
<style>
  body { margin: 0; font-family: "Source Sans 3", "Source Sans Pro", system-ui, sans-serif; }
  #b { width: 100%%; height: 38px; border-radius: 8px; border: 1px solid rgba(49,51,63,0.2);
       background: #fff; color: rgb(49,51,63); font-size: 14px; cursor: pointer; }
  #b:hover { border-color: #ff4b4b; color: #ff4b4b; }
</style>
<script>
  const link = %s;
  const b = document.getElementById("b");
  function done(ok) { b.textContent = ok ? "Link copied" : "Copy failed: use Show link"; 
                      setTimeout(() => { b.textContent = "Copy link"; }, 2500); }
  function fallback() {
    const t = document.createElement("textarea"); t.value = link; document.body.appendChild(t);
    t.select(); let ok = false; try { ok = document.execCommand("copy"); } catch (e) {}
    t.remove(); done(ok);
  }
  b.addEventListener("click", () => {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(() => done(true), fallback);
    } else { fallback(); }
  });
</script>
"""


def copy_link_button(ps: PageState, url_path: str) -> None:
    """'Copy link': one click puts the link on the clipboard; 'Show link' shows it."""
    import json

    link = share_link(ps, url_path)
    # The link goes into a script as a JSON string; <, > and & are escaped so that no
    # value can close the script tag (values are validated anyway).
    js_link = json.dumps(link).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    st.iframe(COPY_BUTTON_HTML % js_link, height=40)
    with st.popover("Show link", icon=":material/link:", help="A link that reproduces this view exactly"):
        st.code(link, language=None, wrap_lines=True)
        st.caption("Default values are left out; uploaded or local files are never part of a link.")
