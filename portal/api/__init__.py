"""The JSON API ``/api/v1``: API keys, channel residents, idempotent submissions, the notifications feed."""
