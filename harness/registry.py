"""Registries for tasks, trainers, variants and suites.

Built-in entries register themselves with a decorator when their package is imported; third-party
packages add entries through an entry-point group, so nothing here needs editing to extend planeval.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from harness.errors import PlanevalError, UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    """A name → object map that also loads built-ins and an entry-point group on first use.

    Built-ins come from importing ``builtin_packages`` (whose modules register with the decorator) or
    from a ``discover`` callback (e.g. YAML files); an entry point's object goes through ``loader``
    when given (e.g. a folder of YAML), else it is registered under the entry point's name.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        builtin_packages: tuple[str, ...] = (),
        loader: Callable[[Registry[T], object, str], None] | None = None,
        discover: Callable[[Registry[T]], None] | None = None,
    ):
        self.kind = kind
        self.group = group
        self._builtin_packages = builtin_packages
        self._loader = loader
        self._discover = discover
        self._items: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._loaded = False
        self._loading = False

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@TASKS.register("perplexity")``."""

        def deco(obj: T) -> T:
            self.add(name, obj, source=getattr(obj, "__module__", "code"))
            return obj

        return deco

    def add(self, name: str, obj: T, source: str = "code", replace: bool = False) -> None:
        if name in self._items and not replace and self._items[name] is not obj:
            if self._sources.get(name) == source:
                self._items[name] = obj  # the same module imported twice (e.g. re-run in a test)
                return
            raise PlanevalError(
                f"{self.kind} {name!r} is registered twice: by {self._sources[name]} and by {source}"
            )
        self._items[name] = obj
        self._sources[name] = source

    # -- lookup -------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        self.load()
        try:
            return self._items[name]
        except KeyError:
            valid = sorted(self._items)
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, valid)} "
                f"(valid: {', '.join(valid) if valid else 'none registered'})"
            ) from None

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def names(self) -> list[str]:
        self.load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self.load()
        yield from sorted(self._items.items())

    def source(self, name: str) -> str:
        self.load()
        return self._sources.get(name, "?")

    # -- discovery ----------------------------------------------------------------------------
    def load(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            for package in self._builtin_packages:
                import_submodules(package)
            if self._discover is not None:
                self._discover(self)
            for ep in entry_points(group=self.group):
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken plugin must not hide the built-ins
                    raise PlanevalError(
                        f"entry point {ep.name!r} in group {self.group} failed to load: {exc}"
                    ) from exc
                if self._loader is not None:
                    self._loader(self, obj, f"entry point {ep.value}")
                elif not isinstance(obj, type(importlib)) and ep.name not in self._items:
                    self.add(ep.name, obj, source=f"entry point {ep.value}")
            self._loaded = True
        finally:
            self._loading = False


def import_submodules(package: str) -> None:
    """Import every module of a package so that their decorators run."""
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        importlib.import_module(info.name)
