"""Tiny checkpoints built locally from a seed, for vLLM's CPU engine (tests, demo).

``build.py`` holds what every builder shares (the atomic build-and-rename, seeded weights,
the weights' hash), ``tiny_moe.py`` the tiny Mixtral and its tokenizer, ``tiny_archs.py`` one
tiny checkpoint per architecture our profiles name. Nothing is downloaded.

May import the standard library, third-party packages (torch, transformers and tokenizers,
imported lazily inside the builders) and the rest of ``models/``; never ``bot/`` or
``workers/``.
"""
