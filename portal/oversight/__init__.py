"""Oversight and analytics: public dashboard, league tables, DP open statistics, open data,
algorithm transparency."""
