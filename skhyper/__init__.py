"""skhyper: hypernetwork classifiers for tabular data with a context column.

The context column (sensor type, task, domain, ...) generates the weights
that transform the other features. See :class:`HyperNetworkClassifier` and
its baseline :class:`ConcatClassifier`.
"""

from ._classifiers import ConcatClassifier, HyperNetworkClassifier

__all__ = ["ConcatClassifier", "HyperNetworkClassifier"]
__version__ = "0.1.0"
