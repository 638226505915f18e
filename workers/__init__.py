"""Task functions (thin: load by id, call one core service, commit) and the Celery app."""
