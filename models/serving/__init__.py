"""Running vLLM's OpenAI-compatible server for a model profile.

``server.py`` launches and supervises a server subprocess (the CPU engine for development,
tests and the demo; it may use third-party packages such as httpx). ``serve_profile.py`` is
the GPU container's entry point (``python3 -m models.serving.serve_profile``) and uses the
standard library alone.

Deliberately no imports here: the official vLLM image runs ``serve_profile`` with nothing but
the standard library and ``models/``, and importing this package must not pull in anything
else. Nothing of ``bot/`` or ``workers/`` is ever imported.
"""
