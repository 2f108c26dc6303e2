"""Low-code administration: the jurisdiction, settings, response templates, users, the audit log."""
