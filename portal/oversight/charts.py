"""Dashboard charts: Plotly figures built server-side as JSON (drawn in the browser by the
plotly.js shipped inside the ``plotly`` wheel, served from our own origin) and the street map, a
server-side SVG drawn from ``Area.boundary``. No external tiles, fonts or scripts.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

FONT = "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', 'PingFang SC', sans-serif"
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#bf8700", "#8250df", "#0a7b83", "#6e7781", "#cf222e")
#: Series beyond this many are folded into "other" so a chart stays readable.
MAX_SERIES = 7


@lru_cache(maxsize=1)
def plotly_js_path() -> Path:
    """``plotly.min.js`` inside the installed ``plotly`` package (found without importing it)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "font": {"family": FONT},
        "colorway": list(COLOURS),
        "margin": {"l": 50, "r": 20, "t": 50, "b": 60},
        "legend": {"orientation": "h"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        **extra,
    }


def fold_series(series: Mapping[str, Sequence[int]], other: str) -> dict[str, list[int]]:
    """The biggest series by total, the rest summed into ``other``."""
    ranked = sorted(series.items(), key=lambda kv: -sum(kv[1]))
    kept = {k: list(v) for k, v in ranked[:MAX_SERIES]}
    rest = ranked[MAX_SERIES:]
    if rest:
        kept[other] = [sum(vals) for vals in zip(*(v for _, v in rest), strict=True)]
    return kept


def time_series_figure(
    title: str, buckets: Sequence[date], series: Mapping[str, Sequence[int]], other: str
) -> dict[str, Any]:
    x = [b.isoformat() for b in buckets]
    return {
        "data": [
            {"type": "bar", "name": name, "x": x, "y": list(values)}
            for name, values in fold_series(series, other).items()
        ],
        "layout": _layout(title, barmode="stack", xaxis={"type": "date"}),
    }


def bar_figure(title: str, values: Mapping[str, float | None], unit: str) -> dict[str, Any]:
    labels = list(values)
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": labels,
                "x": [v for v in values.values()],
                "hovertemplate": "%{y}: %{x}" + unit + "<extra></extra>",
            }
        ],
        "layout": _layout(title, yaxis={"autorange": "reversed", "automargin": True}),
    }


def pie_figure(title: str, values: Mapping[str, int]) -> dict[str, Any]:
    return {
        "data": [
            {"type": "pie", "labels": list(values), "values": list(values.values()), "hole": 0.45}
        ],
        "layout": _layout(title),
    }


# --- the map -------------------------------------------------------------------------------

MAP_WIDTH = 640
SHADES = ("#f1f5fb", "#c9dcf5", "#93b9eb", "#5b93db", "#2a6bc2", "#124a94")


def shade(count: int, maximum: int) -> str:
    if maximum <= 0 or count <= 0:
        return SHADES[0]
    step = 1 + int((len(SHADES) - 2) * count / maximum + 0.5)
    return SHADES[min(step, len(SHADES) - 1)]


def street_map_svg(
    streets: Sequence[Any], counts: Mapping[str, int], *, title: str, legend: str
) -> str:
    """Street polygons ([lon, lat] rings) projected equirectangularly, shaded by case count, each
    labelled with its name and count at its centroid."""
    rings = [(a, a.boundary) for a in streets if a.boundary and len(a.boundary) >= 3]
    if not rings:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_WIDTH}" height="60">'
            f'<text x="10" y="30" font-family="{escape(FONT)}">{escape(title)}</text></svg>'
        )
    lons = [p[0] for _, ring in rings for p in ring]
    lats = [p[1] for _, ring in rings for p in ring]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    # Equirectangular projection, longitude shrunk by cos(latitude) so shapes look right.
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    span_x = max((max_lon - min_lon) * kx, 1e-9)
    span_y = max(max_lat - min_lat, 1e-9)
    pad, top = 20, 40
    scale = (MAP_WIDTH - 2 * pad) / span_x
    height = int(span_y * scale) + top + pad + 40

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (pad + (lon - min_lon) * kx * scale, top + (max_lat - lat) * scale)

    maximum = max((counts.get(a.code, 0) for a, _ in rings), default=0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {MAP_WIDTH} {height}" '
        f'width="{MAP_WIDTH}" height="{height}" font-family="{escape(FONT)}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{MAP_WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{pad}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
    ]
    for area, ring in rings:
        count = counts.get(area.code, 0)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(p[0], p[1]) for p in ring))
        parts.append(
            f'<polygon points="{points}" fill="{shade(count, maximum)}" stroke="#24292f" '
            f'stroke-width="1.5"><title>{escape(area.name)}: {count}</title></polygon>'
        )
    for area, ring in rings:
        if area.centroid_lat is not None and area.centroid_lon is not None:
            cx, cy = xy(area.centroid_lon, area.centroid_lat)
        else:
            cx = sum(xy(p[0], p[1])[0] for p in ring) / len(ring)
            cy = sum(xy(p[0], p[1])[1] for p in ring) / len(ring)
        count = counts.get(area.code, 0)
        parts.append(
            f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" font-size="14">'
            f"{escape(area.name)}</text>"
            f'<text x="{cx:.1f}" y="{cy + 18:.1f}" text-anchor="middle" font-size="14" '
            f'font-weight="bold">{count}</text>'
        )
    # Legend: the shade scale from 0 to the maximum.
    ly = height - 28
    parts.append(f'<text x="{pad}" y="{ly + 14}" font-size="12">{escape(legend)}</text>')
    for i, colour in enumerate(SHADES):
        parts.append(
            f'<rect x="{pad + 110 + i * 34}" y="{ly}" width="34" height="16" fill="{colour}" '
            'stroke="#999"/>'
        )
    parts.append(f'<text x="{pad + 110}" y="{ly + 30}" font-size="11">0</text>')
    parts.append(
        f'<text x="{pad + 110 + len(SHADES) * 34}" y="{ly + 30}" font-size="11" '
        f'text-anchor="end">{maximum}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
