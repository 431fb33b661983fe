"""The agent pipeline: `builder.py` wires the LangGraph graph, `nodes/` holds one node per module,
`state.py` the state types and structured outputs, `context.py` the per-run knobs."""
