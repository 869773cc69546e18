"""briefbot: keeps Slack and Discord channels briefed on developing news stories."""

__version__ = "0.1.0"
