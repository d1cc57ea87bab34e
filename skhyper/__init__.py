"""skhyper: hypernetwork classifiers for tabular data with a context column.

The context column (sensor type, task, domain, ...) generates the weights
that transform the other features. See :class:`HyperNetworkClassifier` and
its baseline :class:`ConcatClassifier`, and the regressors
:class:`HyperNetworkRegressor` and :class:`ConcatRegressor`.
"""

from ._callbacks import TrainingDivergedError
from ._classifiers import ConcatClassifier, HyperNetworkClassifier
from ._encoding import RareContextWarning
from ._explain import plot_context_effects
from ._onnx import onnx_inputs, to_onnx
from ._persistence import TRUSTED_TYPES, dump, load
from ._regressors import ConcatRegressor, HyperNetworkRegressor

__all__ = [
    "ConcatClassifier",
    "ConcatRegressor",
    "HyperNetworkClassifier",
    "HyperNetworkRegressor",
    "RareContextWarning",
    "TrainingDivergedError",
    "TRUSTED_TYPES",
    "dump",
    "load",
    "onnx_inputs",
    "plot_context_effects",
    "to_onnx",
]
__version__ = "0.1.0"
