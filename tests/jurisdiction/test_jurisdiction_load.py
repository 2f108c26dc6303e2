"""Loading a jurisdiction: idempotent upserts, the full catalogue, geometry, settings."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from nlp.catalogue import load_catalogue
from portal.errors import ValidationError
from portal.jurisdiction.models import (
    DEFAULT_SETTINGS,
    Area,
    Category,
    Department,
    RoutingRule,
    Setting,
    SlaProfile,
)
from portal.jurisdiction.services import (
    get_setting,
    list_groups,
    load_jurisdiction,
    locate,
    read_yaml,
    set_setting,
)
from tests.factories import DEMO_JURISDICTION, OUTSIDE_POINT, POINTS

MODELS = (Area, Department, Category, SlaProfile, RoutingRule, Setting)


def _counts(session) -> dict[str, int]:
    return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in MODELS}


def test_loading_twice_changes_nothing(session, jurisdiction) -> None:
    before = _counts(session)
    assert before["Area"] == 1 + 4 + 10
    assert before["SlaProfile"] == 4
    assert 15 <= before["Department"] <= 30
    report = load_jurisdiction(session, read_yaml(DEMO_JURISDICTION))
    session.commit()
    assert report.changed == 0, report.summary()
    assert _counts(session) == before


def test_update_existing_brings_rows_to_the_file(session, jurisdiction) -> None:
    data = read_yaml(DEMO_JURISDICTION)
    edited = copy.deepcopy(data)
    edited["departments"][0]["name"] = "区住房和城乡建设局（新）"
    edited["routing_rules"][0]["co_departments"] = ["urban_mgmt"]
    edited["settings"]["verdict_days"] = 10
    report = load_jurisdiction(session, edited, update_existing=False)
    assert report.changed == 0
    housing = session.scalar(select(Department).where(Department.code == "housing"))
    assert housing.name == "区住房和城乡建设局"
    report = load_jurisdiction(session, edited)
    session.commit()
    assert report.counts["departments"]["updated"] == 1
    assert report.counts["routing_rules"]["updated"] == 1
    assert housing.name == "区住房和城乡建设局（新）"
    assert get_setting(session, "verdict_days") == 10
    rule = session.scalar(
        select(RoutingRule)
        .join(Category)
        .where(Category.code == "G01", RoutingRule.area_id.is_(None))
    )
    assert [d.code for d in rule.co_departments] == ["urban_mgmt"]


def test_the_catalogue_is_the_engines(session, jurisdiction) -> None:
    catalogue = load_catalogue()
    groups = list_groups(session)
    assert [g.name for g in groups] == [g.name for g in catalogue.groups]
    assert len(groups) == 15
    for group, source in zip(groups, catalogue.groups, strict=True):
        assert group.code == source.code
        assert [c.code for c in group.children] == [c.code for c in source.categories]
    lamp = session.scalar(select(Category).where(Category.code == "G01-02"))
    assert "路灯" in lamp.keywords and lamp.description
    assert (
        session.scalar(select(Category).where(Category.code == "G07-03")).default_priority
        == "urgent"
    )


def test_every_group_has_a_district_wide_rule(session, jurisdiction) -> None:
    for group in list_groups(session):
        rule = session.scalar(
            select(RoutingRule).where(
                RoutingRule.category_id == group.id, RoutingRule.area_id.is_(None)
            )
        )
        assert rule is not None, group.code


def test_points_resolve_to_their_areas(session, jurisdiction) -> None:
    for street_code, (lat, lon) in POINTS.items():
        location = locate(session, lat, lon)
        assert location.inside
        assert location.area.level == "community"
        assert location.area.parent.code == street_code
    for community in session.scalars(select(Area).where(Area.level == "community")):
        assert locate(session, community.centroid_lat, community.centroid_lon).area is community
    assert not locate(session, *OUTSIDE_POINT).inside
    assert not locate(session, 28.30, 112.90).inside  # just north of the district


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("routing_rules", 0, "department"), "no_such_department"),
        (("routing_rules", 0, "category"), "G99"),
        (("routing_rules", 0, "sla"), "someday"),
        (("departments", 21, "area"), "LJ-XX"),
    ],
)
def test_bad_files_are_refused_whole(session, path, value) -> None:
    data = read_yaml(DEMO_JURISDICTION)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValidationError):
        load_jurisdiction(session, data)
    session.rollback()
    assert _counts(session)["Department"] == 0


def test_read_yaml_errors_are_clear(tmp_path) -> None:
    with pytest.raises(ValidationError, match="not found"):
        read_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("district: [unclosed", encoding="utf-8")
    with pytest.raises(ValidationError, match="YAML"):
        read_yaml(bad)


def test_settings_fall_back_to_defaults(session) -> None:
    assert get_setting(session, "verdict_days") == DEFAULT_SETTINGS["verdict_days"]
    set_setting(session, "verdict_days", 3)
    session.commit()
    assert get_setting(session, "verdict_days") == 3
    with pytest.raises(KeyError):
        get_setting(session, "no_such_setting")
    with pytest.raises(ValidationError):
        set_setting(session, "no_such_setting", 1)
