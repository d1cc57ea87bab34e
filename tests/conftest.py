"""Shared set-up for the test suite.

Helpers that several test files use live in ``_helpers.py``; pyproject.toml
puts ``tests/`` on the path (``pythonpath``) so that test modules import them
with ``from _helpers import ...``, which ``--import-mode=importlib`` would not
allow by itself. (``import tests...`` is not an option: an unrelated
``tests`` package is installed in some environments.)
"""

import os

from hypothesis import settings

# The property tests draw the same examples on every run, so that a red run
# of the README's test command (and of CI) reruns red. To explore new
# examples, run with HYPOTHESIS_PROFILE=explore.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
