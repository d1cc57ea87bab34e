"""skhyper: hypernetwork classifiers for tabular data with a context column.

The context column (sensor type, task, domain, ...) generates the weights
that transform the other features. See :class:`HyperNetworkClassifier` and
its baseline :class:`ConcatClassifier`.
"""

from ._callbacks import TrainingDivergedError
from ._classifiers import ConcatClassifier, HyperNetworkClassifier

__all__ = ["ConcatClassifier", "HyperNetworkClassifier", "TrainingDivergedError"]
__version__ = "0.1.0"
