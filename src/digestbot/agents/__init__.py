"""The three agents (classifier, summarizer, judge): prompt specs, LLM-backed and offline versions."""
