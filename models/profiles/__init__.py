"""Model profiles: how each model is served, and the catalog of them.

- ``definition.py``: what a profile is (``ModelProfile``, ``Sampling``) and how it becomes a
  vLLM command line (``serve_command``), with the architectures and the CPU engine's results.
- ``catalog.py``: every profile we know how to serve, and how to look one up (``get_profile``).

May import the standard library and ``models.profiles`` only: the GPU container copies
nothing but ``models/`` into the official vLLM image.
"""
