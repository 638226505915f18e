"""LexicalIndex adapters."""
