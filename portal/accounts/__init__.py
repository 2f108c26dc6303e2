"""Accounts: residents and staff, sign-in, roles and channel identities."""
