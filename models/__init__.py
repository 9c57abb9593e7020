"""The language-model side of mentionbot: everything between a prompt and a postable reply.

- ``profiles/``: how each model is served (``definition.py``: one definition of every vLLM
  flag) and the catalog of profiles (``catalog.py``).
- ``serving/``: the vLLM launcher (CPU engine, tests, demo) and the GPU container's entry point.
- ``checkpoints/``: tiny seeded checkpoints for the CPU engine, built locally.
- ``llm_client.py`` (the vLLM client), ``breaker.py`` (its circuit breaker), ``prompt.py``
  (prompt assembly) and ``prompt_fit.py`` (the mention and its thread context within token
  budgets), ``xlength.py`` (X's weighted length), ``text.py`` (text normalisation),
  ``postprocess/`` (what a reply must be before it is posted).

May import the standard library and third-party packages only, never ``bot/`` or
``workers/``: they import this package, not the other way round. ``profiles/`` and
``serving/serve_profile.py`` use the standard library alone.
"""
