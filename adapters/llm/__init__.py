"""LLM adapters: OpenAI-compatible chat models (LangChain)."""
