"""Shared set-up for the test suite.

Helpers that several test files use live in ``_helpers.py``; pyproject.toml
puts ``tests/`` on the path (``pythonpath``) so that test modules import them
with ``from _helpers import ...``, which ``--import-mode=importlib`` would not
allow by itself. (``import tests...`` is not an option: an unrelated
``tests`` package is installed in some environments.)
"""
