"""A bounded, process-wide cache keyed by argument values, for the pages' own results.

Streamlit's ``st.cache_resource`` and ``st.cache_data`` key a call by an MD5 of every
argument not named ``_...``, pickling the ones it has no hasher for (the model's
architecture is one), and ``cache_data`` unpickles a copy of the result on every hit.
"Can I run it?" asks for its five results on every rerun; the keys it passes are tuples
of plain values and frozen models that hash and compare by value, so a dict finds them
at a fraction of that cost. Same convention: arguments named ``_...`` are not part of
the key (they are what the key was read from). Results are shared between sessions, as
``cache_resource``'s are: callers read them and never change them.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class ValueCache(Generic[P, R]):
    """``fn`` memoised on its arguments not named ``_...``, least recently used first out."""

    def __init__(self, fn: Callable[P, R], max_entries: int) -> None:
        self._fn = fn
        self._max = max_entries
        params = list(inspect.signature(fn).parameters)
        self._keyed = tuple(i for i, name in enumerate(params) if not name.startswith("_"))
        self._entries: OrderedDict[tuple, R] = OrderedDict()
        self._lock = threading.Lock()
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs:  # the pages pass positionally; a keyword call is computed, not cached
            return self._fn(*args, **kwargs)
        key = tuple(args[i] for i in self._keyed)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = self._fn(*args, **kwargs)  # outside the lock: sessions compute in parallel
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def value_cache(max_entries: int) -> Callable[[Callable[P, R]], ValueCache[P, R]]:
    """Decorator: :class:`ValueCache` with room for ``max_entries`` results."""

    def wrap(fn: Callable[P, R]) -> ValueCache[P, R]:
        return ValueCache(fn, max_entries)

    return wrap
