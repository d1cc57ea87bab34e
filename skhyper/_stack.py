"""Where a warning points: at the user's line, whatever path led to it.

A warning raised deep in a fit is reached through ``fit``, a warm start or
``partial_fit``, each with its own depth of calls, and often through
scikit-learn's validating wrapper or a meta-estimator; a fixed
``stacklevel`` is right for one path only.
"""

from __future__ import annotations

import os
import sys

import sklearn
import skorch

# Frames in these directories are skhyper's own or the libraries it runs
# in; the first frame outside them is the user's.
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep
    for path in (__file__, sklearn.__file__, skorch.__file__)
)


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the calling function
    that points at the first frame outside skhyper, scikit-learn and
    skorch (1 is the calling function itself)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    return level
