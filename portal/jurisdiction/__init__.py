"""Jurisdiction as data: areas, departments, the category catalogue, routing rules, SLAs."""
