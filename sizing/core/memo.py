"""A cache key that carries what the cached computation needs, and lets go of it after.

``functools.lru_cache`` keeps its arguments as the key. When an argument is a GGUF file's
tensor list (tens of MB for an uploaded header with many tensors), a bounded count of
entries is not a bounded amount of memory. A :class:`Keyed` is hashed and compared by a
short ``key`` (settings plus the tensors' hash); the computation takes its ``payload``
and sets it to None, so the cache holds keys and results, never tensor lists.
"""

from __future__ import annotations

from typing import Any


class Keyed:
    """A cache key (``key``) with the arguments to compute from (``payload``, dropped by
    the cached function once it has them)."""

    __slots__ = ("key", "payload")

    def __init__(self, key: tuple, payload: Any) -> None:
        self.key = key
        self.payload = payload

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keyed) and self.key == other.key

    def take(self) -> Any:
        """The payload, once: the key kept by the cache no longer refers to it."""
        payload, self.payload = self.payload, None
        return payload
