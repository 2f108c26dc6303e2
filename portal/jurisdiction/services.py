"""Jurisdiction use cases: load the YAML idempotently, read settings, query the catalogue and areas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.errors import NotFound, ValidationError
from portal.jurisdiction.geometry import distance_m, point_in_polygon
from portal.jurisdiction.models import (
    DEFAULT_SETTINGS,
    PRIORITIES,
    Area,
    Category,
    Department,
    RoutingRule,
    Setting,
    SlaProfile,
)


@dataclass
class LoadReport:
    """What :func:`load_jurisdiction` did, per kind of row: ``{"areas": {"created": 3, ...}}``."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, kind: str, outcome: str) -> None:
        bucket = self.counts.setdefault(kind, {"created": 0, "updated": 0, "unchanged": 0})
        bucket[outcome] += 1

    @property
    def changed(self) -> int:
        return sum(b["created"] + b["updated"] for b in self.counts.values())

    def summary(self) -> str:
        parts = [
            f"{kind}: {b['created']} created, {b['updated']} updated, {b['unchanged']} unchanged"
            for kind, b in self.counts.items()
        ]
        return "; ".join(parts)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a jurisdiction file; a clear ValidationError for a missing or malformed one."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValidationError(f"jurisdiction file not found: {path}", field="file") from exc
    except yaml.YAMLError as exc:
        raise ValidationError(f"jurisdiction file is not valid YAML: {exc}", field="file") from exc
    if not isinstance(data, dict):
        raise ValidationError("jurisdiction file must hold a mapping at the top", field="file")
    return data


def default_catalogue() -> dict[str, Any]:
    """The NLP engine's category catalogue (``nlp/data/catalogue.yaml``): groups and categories."""
    from nlp.catalogue import DEFAULT_CATALOGUE

    data = yaml.safe_load(Path(DEFAULT_CATALOGUE).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {"groups": []}


def _upsert(
    session: Session,
    report: LoadReport,
    kind: str,
    instance: Any | None,
    factory: type[Any],
    values: Mapping[str, Any],
    *,
    update_existing: bool,
) -> Any:
    """Create ``factory(**values)`` or bring ``instance`` to ``values`` (only changed columns)."""
    if instance is None:
        instance = factory(**values)
        session.add(instance)
        report.count(kind, "created")
        return instance
    changed = False
    if update_existing:
        for key, value in values.items():
            if getattr(instance, key) != value:
                setattr(instance, key, value)
                changed = True
    report.count(kind, "updated" if changed else "unchanged")
    return instance


def _latlon(pair: Any, where: str) -> tuple[float | None, float | None]:
    if pair is None:
        return None, None
    if not (isinstance(pair, list | tuple) and len(pair) == 2):
        raise ValidationError(f"{where}: centroid must be [lat, lon]", field="file")
    return float(pair[0]), float(pair[1])


def load_jurisdiction(
    session: Session,
    data: Mapping[str, Any],
    *,
    catalogue: Mapping[str, Any] | None = None,
    update_existing: bool = True,
) -> LoadReport:
    """Upsert a jurisdiction (areas, departments, catalogue, SLAs, rules, settings) by code.

    Idempotent: a second run with the same data creates nothing and changes nothing. With
    ``update_existing=False`` rows that already exist are left as administrators edited them.
    ``catalogue`` defaults to the NLP engine's catalogue; ``data["category_details"]`` adds
    keywords, descriptions and default priorities per code.
    """
    report = LoadReport()
    areas = {a.code: a for a in session.scalars(select(Area))}
    departments = {d.code: d for d in session.scalars(select(Department))}
    categories = {c.code: c for c in session.scalars(select(Category))}
    slas = {s.code: s for s in session.scalars(select(SlaProfile))}

    def area(code: str, where: str) -> Area:
        if code not in areas:
            raise ValidationError(f"{where}: unknown area {code!r}", field="file")
        return areas[code]

    # Areas: the district, its streets, their communities.
    district_data = data.get("district")
    if district_data:
        lat, lon = _latlon(district_data.get("centroid"), "district")
        district = _upsert(
            session,
            report,
            "areas",
            areas.get(district_data["code"]),
            Area,
            {
                "code": district_data["code"],
                "name": district_data["name"],
                "level": "district",
                "parent": None,
                "centroid_lat": lat,
                "centroid_lon": lon,
                "boundary": district_data.get("boundary"),
            },
            update_existing=update_existing,
        )
        areas[district.code] = district
    else:
        district = None
    for street_data in data.get("streets") or []:
        lat, lon = _latlon(street_data.get("centroid"), street_data["code"])
        street = _upsert(
            session,
            report,
            "areas",
            areas.get(street_data["code"]),
            Area,
            {
                "code": street_data["code"],
                "name": street_data["name"],
                "level": "street",
                "parent": district,
                "centroid_lat": lat,
                "centroid_lon": lon,
                "boundary": street_data.get("boundary"),
            },
            update_existing=update_existing,
        )
        areas[street.code] = street
        for community_data in street_data.get("communities") or []:
            lat, lon = _latlon(community_data.get("centroid"), community_data["code"])
            community = _upsert(
                session,
                report,
                "areas",
                areas.get(community_data["code"]),
                Area,
                {
                    "code": community_data["code"],
                    "name": community_data["name"],
                    "level": "community",
                    "parent": street,
                    "centroid_lat": lat,
                    "centroid_lon": lon,
                    "boundary": community_data.get("boundary"),
                },
                update_existing=update_existing,
            )
            areas[community.code] = community

    for dept_data in data.get("departments") or []:
        values: dict[str, Any] = {
            "code": dept_data["code"],
            "name": dept_data["name"],
            "name_en": dept_data.get("name_en"),
            "description": dept_data.get("description"),
            "area": area(dept_data["area"], dept_data["code"]) if dept_data.get("area") else None,
        }
        departments[dept_data["code"]] = _upsert(
            session,
            report,
            "departments",
            departments.get(dept_data["code"]),
            Department,
            values,
            update_existing=update_existing,
        )

    details: Mapping[str, Any] = data.get("category_details") or {}
    source = catalogue if catalogue is not None else default_catalogue()
    for group_data in source.get("groups") or []:
        group = _upsert_category(
            session, report, categories, group_data, None, details, update_existing
        )
        for cat_data in group_data.get("categories") or []:
            _upsert_category(session, report, categories, cat_data, group, details, update_existing)
    unknown = set(details) - set(categories)
    if unknown:
        raise ValidationError(
            f"category_details for unknown codes: {', '.join(sorted(unknown))}", field="file"
        )

    for sla_data in data.get("sla_profiles") or []:
        slas[sla_data["code"]] = _upsert(
            session,
            report,
            "sla_profiles",
            slas.get(sla_data["code"]),
            SlaProfile,
            {
                "code": sla_data["code"],
                "name": sla_data["name"],
                "respond_hours": int(sla_data["respond_hours"]),
                "resolve_hours": int(sla_data["resolve_hours"]),
            },
            update_existing=update_existing,
        )

    session.flush()  # ids for the rules' lookup key
    rules = {(r.category_id, r.area_id): r for r in session.scalars(select(RoutingRule))}
    for rule_data in data.get("routing_rules") or []:
        where = f"routing rule {rule_data.get('category')}@{rule_data.get('area') or '-'}"
        category = categories.get(rule_data.get("category", ""))
        if category is None:
            raise ValidationError(f"{where}: unknown category", field="file")
        rule_area = area(rule_data["area"], where) if rule_data.get("area") else None
        if rule_data.get("department") not in departments:
            raise ValidationError(f"{where}: unknown department", field="file")
        if rule_data.get("sla") not in slas:
            raise ValidationError(f"{where}: unknown SLA profile", field="file")
        co = []
        for code in rule_data.get("co_departments") or []:
            if code not in departments:
                raise ValidationError(f"{where}: unknown co-department {code!r}", field="file")
            co.append(departments[code])
        existing = rules.get((category.id, rule_area.id if rule_area else None))
        rule = _upsert(
            session,
            report,
            "routing_rules",
            existing,
            RoutingRule,
            {
                "category": category,
                "area": rule_area,
                "department": departments[rule_data["department"]],
                "sla_profile": slas[rule_data["sla"]],
                "active": True,
            },
            update_existing=update_existing,
        )
        if existing is None or update_existing:
            wanted = sorted(co, key=lambda d: d.code)
            if sorted(rule.co_departments, key=lambda d: d.code) != wanted:
                rule.co_departments = wanted
                if existing is not None:
                    report.counts["routing_rules"]["updated"] += 1
                    report.counts["routing_rules"]["unchanged"] -= 1

    stored = {s.key: s for s in session.scalars(select(Setting))}
    for key, value in (data.get("settings") or {}).items():
        setting = stored.get(key)
        if setting is None:
            session.add(Setting(key=key, value=value))
            report.count("settings", "created")
        elif update_existing and setting.value != value:
            setting.value = value
            report.count("settings", "updated")
        else:
            report.count("settings", "unchanged")
    session.flush()
    return report


def _upsert_category(
    session: Session,
    report: LoadReport,
    categories: dict[str, Category],
    item: Mapping[str, Any],
    parent: Category | None,
    details: Mapping[str, Any],
    update_existing: bool,
) -> Category:
    extra = details.get(item["code"]) or {}
    priority = extra.get("default_priority", "normal")
    if priority not in PRIORITIES:
        raise ValidationError(
            f"{item['code']}: unknown default_priority {priority!r}", field="file"
        )
    values = {
        "code": item["code"],
        "name": item["name"],
        "name_en": item.get("name_en") or extra.get("name_en"),
        "parent": parent,
        "description": extra.get("description") or item.get("description"),
        "keywords": list(extra.get("keywords") or item.get("keywords") or []),
        "default_priority": priority,
        "active": True,
    }
    category = _upsert(
        session,
        report,
        "categories",
        categories.get(item["code"]),
        Category,
        values,
        update_existing=update_existing,
    )
    categories[category.code] = category
    return category


# --- settings -------------------------------------------------------------------------------


def get_setting(session: Session, key: str) -> Any:
    """The stored value of a jurisdiction setting, or its default from ``DEFAULT_SETTINGS``."""
    setting = session.get(Setting, key)
    if setting is not None:
        return setting.value
    if key in DEFAULT_SETTINGS:
        return DEFAULT_SETTINGS[key]
    raise KeyError(f"unknown setting {key!r}")


def get_settings(session: Session, *keys: str) -> dict[str, Any]:
    """Several settings in one query: ``{key: stored value or default}``."""
    unknown = [k for k in keys if k not in DEFAULT_SETTINGS]
    if unknown:
        raise KeyError(f"unknown setting {unknown[0]!r}")
    stored = {s.key: s.value for s in session.scalars(select(Setting).where(Setting.key.in_(keys)))}
    return {k: stored[k] if k in stored else DEFAULT_SETTINGS[k] for k in keys}


def set_setting(session: Session, key: str, value: Any) -> Setting:
    """Store a jurisdiction setting (known keys only; the value keeps its JSON type)."""
    if key not in DEFAULT_SETTINGS:
        raise ValidationError(f"unknown setting {key!r}", field="key")
    setting = session.get(Setting, key)
    if setting is None:
        setting = Setting(key=key, value=value)
        session.add(setting)
    else:
        setting.value = value
    session.flush()
    return setting


# --- catalogue and areas --------------------------------------------------------------------


def list_groups(session: Session, *, active_only: bool = True) -> list[Category]:
    """The catalogue's groups in code order, their categories loaded (``group.children``)."""
    query = (
        select(Category)
        .where(Category.parent_id.is_(None))
        .options(selectinload(Category.children))
        .order_by(Category.code)
    )
    if active_only:
        query = query.where(Category.active.is_(True))
    groups = list(session.scalars(query))
    for group in groups:
        group.children.sort(key=lambda c: c.code)
    return groups


def get_category(session: Session, code: str, *, field: str = "category_code") -> Category:
    """An active group or category by its code (the Open311 service_code)."""
    category = session.scalar(select(Category).where(Category.code == code))
    if category is None or not category.active:
        raise ValidationError(
            _("Unknown category: please choose one from the list."),
            field=field,
            code="unknown_category",
        )
    return category


def get_area(session: Session, code: str) -> Area:
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None:
        raise NotFound(f"unknown area {code!r}")
    return area


def get_department(session: Session, code: str) -> Department:
    department = session.scalar(select(Department).where(Department.code == code))
    if department is None:
        raise NotFound(f"unknown department {code!r}")
    return department


def list_departments(session: Session, *, active_only: bool = True) -> list[Department]:
    query = select(Department).order_by(Department.name)
    if active_only:
        query = query.where(Department.active.is_(True))
    return list(session.scalars(query))


def list_streets(session: Session) -> list[Area]:
    """Streets with their communities loaded, for filters and forms."""
    query = (
        select(Area)
        .where(Area.level == "street")
        .options(selectinload(Area.children))
        .order_by(Area.code)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class Location:
    """Where a point falls: inside the jurisdiction or not, and the finest area found."""

    inside: bool
    area: Area | None


def locate(session: Session, lat: float, lon: float) -> Location:
    """Resolve a point to a community (or street): polygon first, nearest centroid otherwise.

    ``inside`` is False when a district boundary exists and the point lies outside all of them;
    with no district geometry configured every point counts as inside with no area.
    """
    all_areas = list(session.scalars(select(Area)))
    districts = [a for a in all_areas if a.level == "district" and a.boundary]
    if districts and not any(point_in_polygon(lat, lon, d.boundary or []) for d in districts):
        return Location(inside=False, area=None)
    streets = [a for a in all_areas if a.level == "street"]
    street = next(
        (s for s in streets if s.boundary and point_in_polygon(lat, lon, s.boundary)), None
    )
    if street is None:
        street = _nearest(streets, lat, lon)
    communities = [
        a
        for a in all_areas
        if a.level == "community" and (street is None or a.parent_id == street.id)
    ]
    community = next(
        (c for c in communities if c.boundary and point_in_polygon(lat, lon, c.boundary)), None
    ) or _nearest(communities, lat, lon)
    return Location(inside=True, area=community or street)


def _nearest(areas: list[Area], lat: float, lon: float) -> Area | None:
    located = [a for a in areas if a.centroid_lat is not None and a.centroid_lon is not None]
    if not located:
        return None
    return min(
        located,
        key=lambda a: distance_m(lat, lon, a.centroid_lat or 0.0, a.centroid_lon or 0.0),
    )
