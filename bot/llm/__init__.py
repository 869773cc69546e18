"""The one wrapper of the openai SDK: ``bot.llm.client.LLMClient``."""
