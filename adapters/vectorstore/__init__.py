"""VectorStore adapters."""
