"""FastAPI transport and the `threadline` CLI."""
