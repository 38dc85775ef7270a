"""agentmem: memory middleware for LLM applications."""
