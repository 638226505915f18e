"""The one shared knowledge base: documents, chunks, versions, hybrid search."""
