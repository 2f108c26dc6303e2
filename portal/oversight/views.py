"""Public oversight pages: dashboard, league tables, DP statistics, open data, transparency."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import get_session, permissions
from portal.cases.labels import STATUS_LABELS
from portal.db import utcnow
from portal.errors import NotFound, ValidationError
from portal.jurisdiction.services import get_setting
from portal.oversight import cache, charts, dp, open_data, services
from portal.oversight.cache import cached_figures
from portal.oversight.dp import LOCAL_TZ
from portal.oversight.services import FORMULAS, RATE_KEYS, Dashboard, Filters, Period
from portal.workbench import kpi

bp = Blueprint(
    "oversight",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/oversight/static",
)
bp.record_once(lambda state: cache.init_app(state.app))

CHARTS = ("cases_by_group", "cases_by_street", "status", "streets", "rates")
#: Charts drawn by Plotly (the street map is a server-side SVG).
PLOTTED = ("cases_by_group", "cases_by_street", "status", "rates")
YEAR = 365 * 24 * 3600
DEFAULT_DAYS = 30
CSV_MAX_AGE = 300


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


def nav_items() -> list[NavItem]:
    """数据看板 for everyone (the pages are public)."""
    return [NavItem(_("Dashboard"), url_for("oversight.dashboard"))]


# --- request parsing -----------------------------------------------------------------------


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(_("%(name)s must be a whole number", name=name), field=name) from None


def _period_and_filters() -> tuple[Period, Filters, int, str]:
    days = _int_arg("days", DEFAULT_DAYS)
    period = Period.last_days(days)
    bucket = request.args.get("bucket") or ("week" if days > 62 else "day")
    if bucket not in {"day", "week"}:
        raise ValidationError(_("bucket must be day or week"), field="bucket")
    filters = services.validate_filters(
        get_session(),
        Filters(group=request.args.get("group") or None, street=request.args.get("street") or None),
    )
    return period, filters, days, bucket


def _month_arg() -> str:
    month = request.args.get("month") or utcnow().astimezone(LOCAL_TZ).strftime("%Y-%m")
    dp.parse_month(month)  # validates
    return month


def _query_string(**overrides: Any) -> dict[str, Any]:
    args = {k: v for k, v in request.args.items() if v}
    args.update({k: v for k, v in overrides.items() if v is not None})
    return args


def _public_cache_control() -> str:
    """Browsers and proxies may keep public figures as long as the server's own cache does
    (``STATS_CACHE_SECONDS``), at most :data:`CSV_MAX_AGE`; with the cache off, not at all."""
    seconds = min(CSV_MAX_AGE, int(cache.stats_cache().ttl))
    return f"public, max-age={seconds}" if seconds > 0 else "no-cache"


def _csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # BOM: spreadsheet programs then read the Chinese as UTF-8
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = _public_cache_control()
    return response


def _percent(rate: kpi.Rate) -> float | None:
    return rate.percent


def _plotly_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("plotly")
    except PackageNotFoundError:  # pragma: no cover - plotly is a dependency
        return "0"


def hotspots_url() -> str | None:
    """The hotspot alerts page of the ``hotspots`` feature, when it is installed and the current
    user may see alerts (its GET page without arguments, one named "alerts" preferred)."""
    candidates = [
        rule
        for rule in current_app.url_map.iter_rules()
        if rule.endpoint.startswith("hotspots.")
        and not rule.arguments
        and "GET" in (rule.methods or ())
        and not rule.endpoint.endswith(".static")
    ]
    can_see = getattr(permissions, "can_see_hotspots", permissions.can_triage)
    if not candidates or not can_see(current_user):
        return None
    best = sorted(candidates, key=lambda r: ("alert" not in r.endpoint, len(r.rule)))[0]
    return url_for(best.endpoint)


# --- cached figures: numbers only; labels and markup are made per request ------------------
#
# A key names what is computed and for which period and filters. A rolling period ("the last
# 30 days") is keyed by its length and its first day, not by its end (now): the figures stay
# valid until the cache's time limit or the data watermark says otherwise.


def _board(period: Period, filters: Filters, days: int) -> Dashboard:
    """Totals, status mix, cases by street, rates and timings (the page and the rates chart)."""
    session = get_session()
    return cached_figures(
        session,
        ("dashboard", days, period.start, filters),
        lambda: services.dashboard(session, period, filters),
    )


def _counts(period: Period, filters: Filters, days: int) -> tuple[dict[str, int], dict[str, int]]:
    """Status mix and cases by street: from the dashboard's figures when they are cached (a
    visit loads the page first), else counted without reading the case histories."""
    session = get_session()

    def compute() -> tuple[dict[str, int], dict[str, int]]:
        cases = services.load_cases(session, period, filters, with_history=False)
        return services.status_mix(cases), services.counts_by_street(cases)

    return cached_figures(
        session,
        ("counts", days, period.start, filters),
        compute,
        derive_from=(
            ("dashboard", days, period.start, filters),
            lambda board: (board.status, board.by_street),
        ),
    )


def _series(
    period: Period, filters: Filters, days: int, bucket: str
) -> dict[str, tuple[list[date], dict[str, list[int]]]]:
    """Cases per bucket, by group and by street (both charts from one reading of the cases)."""
    session = get_session()

    def compute() -> dict[str, tuple[list[date], dict[str, list[int]]]]:
        cases = services.load_cases(session, period, filters, with_history=False)
        return {
            by: services.cases_over_time(cases, period, bucket=bucket, by=by)
            for by in ("group", "street")
        }

    return cached_figures(session, ("series", days, period.start, filters, bucket), compute)


# --- chart data: one function per chart, shared by the SVG and the CSV ---------------------


def chart_table(name: str) -> tuple[str, list[str], list[list[Any]]]:
    """(title, header, rows) of one dashboard chart for the request's period and filters."""
    session = get_session()
    period, filters, days, bucket = _period_and_filters()
    names = services.lookup(session)
    if name in {"cases_by_group", "cases_by_street"}:
        by = "group" if name == "cases_by_group" else "street"
        buckets, series = _series(period, filters, days, bucket)[by]
        label = (
            (lambda c: names.groups[c].name if c in names.groups else _("Unknown"))
            if by == "group"
            else (lambda c: names.streets[c].name if c in names.streets else _("Unknown"))
        )
        title = (
            _(
                "Cases per %(bucket)s by category group",
                bucket=_("day") if bucket == "day" else _("week"),
            )
            if by == "group"
            else _(
                "Cases per %(bucket)s by street", bucket=_("day") if bucket == "day" else _("week")
            )
        )
        header = [_("Date"), *(label(code) for code in series)]
        rows = [
            [b.isoformat(), *(series[code][i] for code in series)] for i, b in enumerate(buckets)
        ]
        return title, header, rows
    if name == "status":
        mix, _streets = _counts(period, filters, days)
        return (
            _("Status mix"),
            [_("Status"), _("Cases")],
            [[str(STATUS_LABELS[s]), n] for s, n in mix.items()],
        )
    if name == "streets":
        _mix, counts = _counts(period, filters, days)
        rows = [[a.code, a.name, counts.get(code, 0)] for code, a in names.streets.items()]
        if counts.get(""):
            rows.append(["", _("Unknown"), counts[""]])
        return _("Cases by street"), [_("Code"), _("Street"), _("Cases")], rows
    if name == "rates":
        board = _board(period, filters, days)
        rows = [
            [
                key,
                str(FORMULAS[key].label),
                board.rates[key].numerator,
                board.rates[key].denominator,
                _percent(board.rates[key]),
            ]
            for key in (*RATE_KEYS, "overdue")
        ]
        rows += [
            [key, str(FORMULAS[key].label), "", "", value] for key, value in board.timings.items()
        ]
        return (
            _("Performance figures"),
            [_("Key"), _("Figure"), _("Numerator"), _("Denominator"), _("Value")],
            rows,
        )
    raise NotFound(_("No such chart"))


@bp.get("/dashboard")
def dashboard() -> str:
    session = get_session()
    period, filters, days, bucket = _period_and_filters()
    board = _board(period, filters, days)
    names = services.lookup(session)
    return render_template(
        "oversight/dashboard.html",
        board=board,
        names=names,
        days=days,
        bucket=bucket,
        charts=CHARTS,
        formulas=FORMULAS,
        rate_keys=RATE_KEYS,
        status_labels=STATUS_LABELS,
        args=_query_string(),
        hotspots_url=hotspots_url(),
        plotted=PLOTTED,
        plotly_version=_plotly_version(),
    )


@bp.get("/dashboard/map.svg")
def street_map() -> Response:
    """The map of cases by street: the project's own street polygons, shaded by count."""
    session = get_session()
    period, filters, days, _bucket = _period_and_filters()
    svg = charts.street_map_svg(
        list(services.lookup(session).streets.values()),
        _counts(period, filters, days)[1],
        title=_("Cases by street"),
        legend=_("Cases"),
    )
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = _public_cache_control()
    return response


@bp.get("/dashboard/chart/<name>.json")
def chart_figure(name: str) -> Response:
    """A Plotly figure (data + layout) for ``static/dashboard.js`` to draw."""
    if name not in PLOTTED:
        raise NotFound(_("No such chart"))
    title, header, rows = chart_table(name)
    if name in {"cases_by_group", "cases_by_street"}:
        series = {header[i]: [row[i] for row in rows] for i in range(1, len(header))}
        figure = charts.time_series_figure(
            title, [date.fromisoformat(r[0]) for r in rows], series, other=_("Other")
        )
    elif name == "status":
        figure = charts.pie_figure(title, {r[0]: r[1] for r in rows})
    else:
        figure = charts.bar_figure(title, {r[1]: r[4] for r in rows if r[2] != ""}, unit=" %")
    response = Response(json.dumps(figure, ensure_ascii=False), mimetype="application/json")
    response.headers["Cache-Control"] = _public_cache_control()
    return response


@bp.get("/dashboard/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js from the installed ``plotly`` wheel, from our own origin (CSP ``script-src
    'self'``), cached for a year (the URL carries the package version)."""
    response = send_file(charts.plotly_js_path(), mimetype="text/javascript", max_age=YEAR)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response


@bp.get("/dashboard/data/<name>.csv")
def chart_csv(name: str) -> Response:
    if name not in CHARTS:
        raise NotFound(_("No such chart"))
    _title, header, rows = chart_table(name)
    return _csv_response(f"{name}.csv", header, rows)


# --- league tables -------------------------------------------------------------------------


def _league(by: str) -> Response | str:
    session = get_session()
    month = _month_arg()
    sort = request.args.get("sort") or "response"
    services.validate_league(by, sort)
    figures = cached_figures(
        session,
        ("league", month, by),
        lambda: services.league_figures(session, month, by=by),
    )
    table = services.rank_league(services.lookup(session), figures, by=by, sort=sort)
    keys = (*RATE_KEYS, "overdue")
    if request.args.get("format") == "csv":
        header = [_("Rank"), _("Name"), _("Cases")]
        for key in keys:
            header += [f"{FORMULAS[key].label} (%)", f"{key}_numerator", f"{key}_denominator"]
        header += [str(FORMULAS["median_accept"].label), str(FORMULAS["median_resolve"].label)]
        rows = []
        for rank, row in enumerate(table, 1):
            line: list[Any] = [rank, row.name, row.cases]
            for key in keys:
                r = row.rates[key]
                line += [r.percent, r.numerator, r.denominator]
            line += [row.timings["median_accept"], row.timings["median_resolve"]]
            rows.append(line)
        return _csv_response(f"{by}s-{month}.csv", header, rows)
    return render_template(
        "oversight/league.html",
        by=by,
        month=month,
        sort=sort,
        table=table,
        keys=keys,
        formulas=FORMULAS,
        args=_query_string(),
    )


@bp.get("/dashboard/departments")
def departments() -> Response | str:
    return _league("department")


@bp.get("/dashboard/streets")
def streets() -> Response | str:
    return _league("street")


# --- open data and DP statistics -------------------------------------------------------------


def _page_links(endpoint: str, page: int, per_page: int, total: int) -> str:
    pages = max(1, math.ceil(total / per_page))
    links = []
    for rel, target in (("first", 1), ("prev", page - 1), ("next", page + 1), ("last", pages)):
        if 1 <= target <= pages and not (rel in {"prev", "next"} and target == page):
            url = url_for(endpoint, page=target, per_page=per_page, _external=True)
            links.append(f'<{url}>; rel="{rel}"')
    return ", ".join(links)


@bp.get("/open-data")
def open_data_page() -> str:
    session = get_session()
    releases, _total = dp.list_releases(session, page=1, per_page=24)
    return render_template(
        "oversight/open_data.html",
        fields=open_data.FIELDS,
        releases=releases,
        max_per_page=open_data.MAX_PER_PAGE,
    )


def _export(fmt: str) -> Response:
    page = _int_arg("page", 1)
    per_page = _int_arg("per_page", 100)
    rows, total = open_data.export_page(get_session(), page=page, per_page=per_page)
    names = [f.name for f in open_data.FIELDS]
    endpoint = f"oversight.open_data_{fmt}"
    if fmt == "csv":
        response = _csv_response(
            f"cases-page-{page}.csv", names, ([row[n] for n in names] for row in rows)
        )
    else:
        pages = max(1, math.ceil(total / per_page))
        body = {"items": rows, "page": page, "per_page": per_page, "total": total, "pages": pages}
        response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")
        response.headers["Cache-Control"] = _public_cache_control()
    response.headers["Link"] = _page_links(endpoint, page, per_page, total)
    response.headers["X-Total-Count"] = str(total)
    return response


@bp.get("/open-data/cases.csv")
def open_data_csv() -> Response:
    return _export("csv")


@bp.get("/open-data/cases.json")
def open_data_json() -> Response:
    return _export("json")


@bp.get("/open-data/statistics")
def statistics() -> str:
    session = get_session()
    page = _int_arg("page", 1)
    if page < 1:
        raise ValidationError(_("page must be 1 or more"), field="page")
    releases, total = dp.list_releases(session, page=page, per_page=20)
    month = request.args.get("month")
    query = request.args.get("query") or "street_group"
    selected = None
    if month:
        dp.parse_month(month)
        selected = dp.get_release(session, month=month, query=query)
        if selected is None:
            raise NotFound(_("Nothing has been released for this month yet"))
    if selected is None and releases:
        selected = releases[0]
    table = _release_table(selected) if selected is not None else None
    return render_template(
        "oversight/statistics.html",
        releases=releases,
        total=total,
        page=page,
        pages=max(1, math.ceil(total / 20)),
        selected=selected,
        summary=dp.release_summary(selected) if selected is not None else None,
        table=table,
        budget=dp.dp_setting(session, "dp_monthly_epsilon_budget"),
        spent=dp.epsilon_spent(session, selected.month) if selected is not None else 0.0,
        interval=dp.noise_interval,
    )


def _release_table(release: Any) -> dict[str, Any]:
    session = get_session()
    names = services.lookup(session)
    from sqlalchemy import select

    from portal.jurisdiction.models import Category

    category_names = {c.code: c.name for c in session.scalars(select(Category))}
    areas = list(dict.fromkeys(c["area"] for c in release.cells))
    labels = list(dict.fromkeys(c["category"] for c in release.cells))
    values = {(c["area"], c["category"]): c["count"] for c in release.cells}
    return {
        "areas": [
            (a, names.streets[a].name if a in names.streets else _("No location")) for a in areas
        ],
        "labels": [(lab, category_names.get(lab, lab)) for lab in labels],
        "values": values,
    }


@bp.get("/open-data/statistics/<month>/<query>.csv")
def statistics_csv(month: str, query: str) -> Response:
    session = get_session()
    dp.parse_month(month)
    release = dp.get_release(session, month=month, query=query)
    if release is None:
        raise NotFound(_("Nothing has been released for this month yet"))
    summary = dp.release_summary(release)
    header = ["month", "area", "category", "noisy_count", "epsilon", "scale", "interval95"]
    rows = [
        [
            release.month,
            c["area"],
            c["category"],
            c["count"],
            release.epsilon,
            release.scale,
            summary["interval95"],
        ]
        for c in release.cells
    ]
    return _csv_response(f"statistics-{month}-{query}.csv", header, rows)


# --- algorithm transparency ----------------------------------------------------------------


def model_facts() -> dict[str, Any]:
    """What the page says about the routing model, read from its ``metadata.json`` (and an
    ``evaluation.json`` written by ``python -m nlp evaluate --json`` next to it, if any)."""
    from nlp.model import read_metadata

    model_dir = Path(str(current_app.config["NLP_MODEL_DIR"]))
    metadata = read_metadata(model_dir) or {}
    evaluation = metadata.get("evaluation")
    if evaluation is None:
        try:
            evaluation = json.loads((model_dir / "evaluation.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            evaluation = None
    return {"metadata": metadata, "evaluation": evaluation}


@bp.get("/transparency")
def transparency() -> str:
    session = get_session()
    days = _int_arg("days", 90)
    period = Period.last_days(days)
    facts = model_facts()
    rows, district, corrections = cached_figures(
        session,
        ("transparency", days, period.start),
        lambda: (*services.fairness(session, period), services.correction_share(session)),
    )
    return render_template(
        "oversight/transparency.html",
        facts=facts,
        threshold=get_setting(session, "triage_confidence_threshold"),
        corrections=corrections,
        fairness=rows,
        district=district,
        days=days,
        gap_points=services.ACCURACY_GAP_POINTS,
        slow_factor=services.SLOW_FACTOR,
    )
