"""One registry style for everything a config names: readers, samplers, aggregators.

A :class:`Registry` maps names (and aliases) to entries -- classes, factories
or small records -- that the package registers explicitly where they are
collected (``data/readers/__init__.py``, ``mining/samplers.py``, ...), never by
import side effects.  Unknown names raise a :class:`ConfigError` listing the
valid ones.
"""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from geovpr.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> entries of one ``kind`` (used in error messages), in registration order.

    ``fold_case``: look names up case-insensitively (names are registered in lower case).
    """

    def __init__(self, kind: str, *, fold_case: bool = False) -> None:
        self.kind = kind
        self.fold_case = fold_case
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, entry: T, *, aliases: tuple[str, ...] = ()) -> T:
        """Register ``entry`` under ``name`` (and ``aliases``); a name may not be given to two entries."""
        if self._entries.get(name) is entry:
            return entry
        for key in (name, *aliases):
            if key in self._aliases:
                raise ValueError(f"{self.kind} name {key!r} registered twice")
            self._aliases[key] = name
        self._entries[name] = entry
        return entry

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` or an alias."""
        key = str(name).lower() if self.fold_case else name
        if key not in self._aliases:
            raise ConfigError(f"unknown {self.kind} {name!r}; expected one of {sorted(self._aliases)}")
        return self._aliases[key]

    def get(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def names(self) -> list[str]:
        """Registered names (no aliases), in registration order."""
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return (str(name).lower() if self.fold_case else name) in self._aliases
