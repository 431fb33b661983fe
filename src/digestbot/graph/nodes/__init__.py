"""One LangGraph node per module; the node is the function named like the module."""
