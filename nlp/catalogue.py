"""The category catalogue (first-level groups and second-level categories) from YAML."""

from __future__ import annotations

import functools
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CATALOGUE = Path(__file__).with_name("data") / "catalogue.yaml"


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    group_code: str


@dataclass(frozen=True, slots=True)
class Group:
    code: str
    name: str
    name_en: str
    categories: tuple[Category, ...]

    def category(self, name: str) -> Category | None:
        return next((c for c in self.categories if c.name == name), None)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Groups in catalogue order; look-ups by code or Chinese name."""

    groups: tuple[Group, ...]

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    def group(self, key: str) -> Group | None:
        """The group whose code or name is ``key``."""
        return next((g for g in self.groups if key in (g.code, g.name)), None)

    def categories_of(self, group: str) -> list[str]:
        g = self.group(group)
        return [c.name for c in g.categories] if g else []

    def has_category(self, group: str, category: str) -> bool:
        g = self.group(group)
        return g is not None and g.category(category) is not None


def load_catalogue(path: str | os.PathLike[str] | None = None) -> Catalogue:
    """Read a catalogue YAML file (``groups: [{code, name, name_en, categories: [...]}]``)."""
    import yaml

    with open(path or DEFAULT_CATALOGUE, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    groups = []
    for g in raw["groups"]:
        cats = tuple(
            Category(code=str(c["code"]), name=str(c["name"]), group_code=str(g["code"]))
            for c in g.get("categories") or ()
        )
        groups.append(
            Group(
                code=str(g["code"]),
                name=str(g["name"]),
                name_en=str(g.get("name_en", "")),
                categories=cats,
            )
        )
    return Catalogue(tuple(groups))


@functools.cache
def catalogue() -> Catalogue:
    """The default catalogue shipped in ``nlp/data/catalogue.yaml`` (read once)."""
    return load_catalogue()


class _CallableModule(types.ModuleType):
    """``nlp.catalogue()`` is the public call, but once this module is imported the
    package attribute ``nlp.catalogue`` is the module itself: calling it does the same."""

    def __call__(self) -> Catalogue:
        return catalogue()


sys.modules[__name__].__class__ = _CallableModule
