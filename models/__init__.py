"""The language-model side of mentionbot: everything between a prompt and a postable reply.

- ``profile.py`` / ``profiles.py``: how each model is served (one definition of every vLLM
  flag) and the catalog of profiles.
- ``serving/``: the vLLM launcher (CPU engine, tests, demo) and the GPU container's entry point.
- ``checkpoints/``: tiny seeded checkpoints for the CPU engine, built locally.
- ``llm_client.py`` (the vLLM client), ``breaker.py`` (its circuit breaker), ``prompt.py`` and
  ``context.py`` (prompt assembly), ``xlength.py`` (X's weighted length), ``text.py`` (text
  normalisation), ``postprocess/`` (what a reply must be before it is posted).

May import the standard library and third-party packages only, never ``bot/`` or
``workers/``: they import this package, not the other way round. ``profile.py``,
``profiles.py`` and ``serving/serve_profile.py`` use the standard library alone.
"""
