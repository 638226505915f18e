"""Retrieval over the customer history index (and, later, the knowledge base)."""
