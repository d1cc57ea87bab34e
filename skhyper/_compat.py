"""Private and version-dependent imports of other libraries, in one place.

scikit-learn's parameter constraints (``Interval``, ``StrOptions``), its
``_fit_context`` decorator and its sample-weight check are private API that
every scikit-learn-compatible estimator uses; torch's fused AdamW kernel is
private too and runs on a CPU from torch 2.4 on, and ``embedding_bag``
differentiates its per-sample weights alone from torch 2.6 on. Keeping them
here means one file to read when a new release moves them. Optional
libraries (skops, for :func:`skhyper.dump` and :func:`skhyper.load`) are
imported here too, with an error that says how to install them.
"""

from __future__ import annotations

import pandas as pd
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

__all__ = [
    "Interval",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    "embedding_bag_differentiates_weights_alone",
    "has_fused_adamw",
    "import_onnx",
    "import_pyplot",
    "import_skops_io",
    "is_arrow_categorical",
]

# torch.optim's fused AdamW got its CPU kernel in torch 2.4.
FUSED_ADAMW_CPU_SINCE = (2, 4)


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def has_fused_adamw() -> bool:
    """Whether ``torch._fused_adamw_`` exists and runs on a CPU."""
    return hasattr(torch, "_fused_adamw_") and _torch_version() >= FUSED_ADAMW_CPU_SINCE


# Before torch 2.6, the gradient of embedding_bag's per_sample_weights
# failed an internal assert ("isDifferentiableType") when the table itself
# needed none, as in explain's frozen copy of the network.
EMBEDDING_BAG_WEIGHTS_ALONE_SINCE = (2, 6)


def embedding_bag_differentiates_weights_alone() -> bool:
    """Whether ``embedding_bag`` can differentiate ``per_sample_weights``
    for a table that needs no gradient."""
    return _torch_version() >= EMBEDDING_BAG_WEIGHTS_ALONE_SINCE


def is_arrow_categorical(dtype) -> bool:
    """Whether ``dtype`` is a pyarrow-backed pandas dtype of strings or of
    dictionary-encoded values (pyarrow's categories), as
    ``read_parquet(dtype_backend="pyarrow")`` gives."""
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    import pyarrow  # installed wherever an ArrowDtype exists

    kind = dtype.pyarrow_dtype
    return (
        pyarrow.types.is_string(kind)
        or pyarrow.types.is_large_string(kind)
        or pyarrow.types.is_dictionary(kind)
    )


def import_skops_io():
    """``skops.io``, or an ImportError that says how to install it."""
    try:
        import skops.io
    except ImportError as error:
        raise ImportError(
            "skhyper.dump and skhyper.load need the optional dependency skops; "
            'install it with pip install "skhyper[skops]" (or pip install '
            "skops), or save with pickle/joblib if every file you load is "
            "your own."
        ) from error
    return skops.io


def import_onnx():
    """The ``onnx`` package, which only the ONNX export needs."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            "Exporting to ONNX needs the 'onnx' package (and onnxruntime to run "
            "the model): pip install 'skhyper[onnx]', or pip install onnx "
            "onnxruntime."
        ) from error
    return onnx


def import_pyplot():
    """``matplotlib.pyplot``, which only :func:`skhyper.plot_context_effects`
    needs, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "skhyper.plot_context_effects needs the optional dependency "
            'matplotlib; install it with pip install "skhyper[plot]" (or pip '
            "install matplotlib). The contributions themselves need no "
            "plotting: estimator.explain(X)."
        ) from error
    return plt
