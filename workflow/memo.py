"""A small per-process memo of what a page computed for one version of its data.

Its users put the data's version in every key, so an entry is never served for data it was
not computed from; old versions simply age out (least recently used first). Each gunicorn
worker keeps its own.

- The consolidado (``workflow.consolidado.summary``, ``blueprints.reportes``): the version is
  ``summary.version_of`` (any refresh of an aggregate in scope, a Ruta or school more or less,
  or another day changes it); a few entries, each the size of a page's sections.
- The revision queue's counts and the «Pendientes» badge: ``scope_versions.token``.
- The Ruta page's body (``workflow.page_stamps``): the version is the Ruta's and its
  Secretaría's page stamps, which the database moves on every write the page can show.
- The consolidado's body (``blueprints.reportes``): the Secretaría's ``consolidado`` token
  (``scope_versions``), with the moment the body stops holding by time alone.
- The revision queue's body (``blueprints.revision``): the Secretaría's ``queue`` token and
  the largest ids of the reminders and of the history (``scope_versions.Version``), with the
  moment a row's «días» goes up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()  # outside the lock: two threads may both compute, harmlessly
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def peek(self, key: Hashable) -> T | None:
        """What is kept under ``key`` (None: nothing), for a caller that decides itself
        whether it still holds (``put`` replaces it)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
