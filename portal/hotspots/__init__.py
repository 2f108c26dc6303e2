"""Hotspots and early warning (预警): surges and clusters of cases, for coordinators."""
