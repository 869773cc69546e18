"""The Discord adapter: embed rendering (and, next to it, the Discord client)."""
