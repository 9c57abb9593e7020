"""Tests against the real CPU vLLM engine."""
