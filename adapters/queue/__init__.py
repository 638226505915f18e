"""TaskQueue adapters: in-process threads (embedded) and Celery on Redis (distributed)."""
