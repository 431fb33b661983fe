"""The three agents (classifier, summarizer, judge): prompt specs, the LLM-backed and offline implementations."""
