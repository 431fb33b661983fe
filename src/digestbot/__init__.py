"""digestbot: a multi-agent research digest bot for Japanese-speaking ML/LLM teams."""

__version__ = "0.1.0"
