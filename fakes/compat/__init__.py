"""Compatibility probe: the same requests against the fake and against llm-d-inference-sim."""
