"""Alembic migrations; run with `threadline migrate`."""
