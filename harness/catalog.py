"""The variant and suite catalogues: YAML specs from ``baselines/``, entry points and ``--include``.

A YAML file with ``tasks`` is a suite; one with ``trainer`` is a variant. Built-in variants live in
``baselines/<family>/*.yaml`` and suites in ``baselines/suites/*.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import MissingPathError, PlanevalError, SpecError
from harness.registry import Registry
from harness.specs import SuiteSpec, VariantSpec, read_yaml, validate

BASELINES_DIR = Path(__file__).resolve().parents[1] / "baselines"
#: the suite ``planeval run`` and the lm-eval bridge's ``variant=`` use when none is named
DEFAULT_SUITE = "smoke"


def _kind_of(data: Any, source: str) -> str:
    if not isinstance(data, dict):
        raise SpecError(source, "", f"expected a mapping at the top level, got {type(data).__name__}")
    if "tasks" in data:
        return "suite"
    if "trainer" in data:
        return "variant"
    raise SpecError(source, "", "neither a suite (needs 'tasks') nor a variant (needs 'trainer')")


def _add(spec: VariantSpec | SuiteSpec, source: str) -> None:
    registry: Registry = VARIANTS if isinstance(spec, VariantSpec) else SUITES
    if spec.name in registry._items and registry._sources.get(spec.name) != source:
        raise SpecError(source, "name", f"{spec.name!r} is already defined by {registry._sources[spec.name]}")
    registry.add(spec.name, spec, source=source, replace=True)


def load_yaml_file(path: Path) -> VariantSpec | SuiteSpec:
    """Read one variant or suite file and register it."""
    data = read_yaml(path)
    model = SuiteSpec if _kind_of(data, str(path)) == "suite" else VariantSpec
    spec = validate(model, data, str(path))
    _add(spec, str(path))
    return spec


def include_dir(directory: Path) -> list[VariantSpec | SuiteSpec]:
    """Register every ``*.yaml``/``*.yml`` under a folder (``--include DIR``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MissingPathError(f"{directory}: no such folder to include")
    files = sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")])
    return [load_yaml_file(p) for p in files]


def _from_entry_point(registry: Registry, obj: object, source: str) -> None:
    """An entry point gives a folder of YAML, or a callable returning specs (or dicts)."""
    if callable(obj) and not isinstance(obj, (str, Path)):
        obj = obj()
    if isinstance(obj, (str, Path)):
        include_dir(Path(obj))
        return
    if not isinstance(obj, Iterable):
        raise PlanevalError(f"{source}: expected a folder or specs, got {type(obj).__name__}")
    model = SuiteSpec if registry is SUITES else VariantSpec
    for item in obj:
        spec = item if isinstance(item, model) else validate(model, item, source)
        _add(spec, source)


def _discover_builtin(_: Registry) -> None:
    if getattr(_discover_builtin, "done", False):
        return
    _discover_builtin.done = True  # type: ignore[attr-defined]
    for path in sorted(BASELINES_DIR.rglob("*.yaml")):
        load_yaml_file(path)


def _make(kind: str, group: str) -> Registry:
    return Registry(kind, group, loader=_from_entry_point, discover=_discover_builtin)


VARIANTS: Registry[VariantSpec] = _make("variant", "planeval.variants")
SUITES: Registry[SuiteSpec] = _make("suite", "planeval.suites")


def resolve_suite(name_or_path: str) -> tuple[SuiteSpec, str]:
    """A suite by registered name or by YAML path; returns the spec and where it came from."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.exists():
            raise MissingPathError(f"{path}: no such suite file")
        data = read_yaml(path)
        _kind_of(data, str(path))
        return validate(SuiteSpec, data, str(path)), str(path)
    return SUITES.get(name_or_path), SUITES.source(name_or_path)
