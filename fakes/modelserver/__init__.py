"""Fake vLLM model servers: many ports in one process, each with a control API for tests."""
