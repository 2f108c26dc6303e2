"""The audit trail: an append-only, hash-chained log of security-relevant actions."""
