"""Data generators for examples, tests and benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

SENSOR_TYPES = ("temperature", "pressure", "humidity")


def _sensor_rows(sensor_type: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    # Draw order matters: it reproduces the reference page's data exactly.
    if sensor_type == "temperature":
        a, b, c = (rng.normal(0.0, 1.0, n) for _ in range(3))
        label = a > 2.5
    elif sensor_type == "pressure":
        a, b, c = (rng.normal(1.0, 0.8, n) for _ in range(3))
        label = b < -0.5
    else:
        a, b, c = (rng.normal(-1.0, 0.9, n) for _ in range(3))
        label = (a + b + c) > 0
    return pd.DataFrame(
        {
            "sensor_a": a,
            "sensor_b": b,
            "sensor_c": c,
            "sensor_type": sensor_type,
            "anomaly": label.astype(int),
        }
    )


def make_sensor_data(n_per_type: int = 600, seed: int = 42) -> pd.DataFrame:
    """The sensor anomaly data of Ludwig's hypernetwork combiner page.

    Three sensor types share the columns ``sensor_a``, ``sensor_b`` and
    ``sensor_c``, but what counts as an anomaly depends on the type:
    ``sensor_a > 2.5`` for temperature, ``sensor_b < -0.5`` for pressure and
    ``sensor_a + sensor_b + sensor_c > 0`` for humidity. With the defaults
    the frame is exactly the page's: 1800 rows, 33 anomalies (1.8%).

    Parameters
    ----------
    n_per_type : int, default=600
        Rows per sensor type.
    seed : int, default=42
        Seed of the generator and of the final shuffle.

    Returns
    -------
    frame : DataFrame
        Columns ``sensor_a``, ``sensor_b``, ``sensor_c``, ``sensor_type``
        and the target ``anomaly`` (0/1).

    See Also
    --------
    skhyper.HyperNetworkClassifier : The model whose context column
        (``sensor_type`` here) generates a layer's weights.

    Examples
    --------
    >>> from skhyper.datasets import make_sensor_data
    >>> df = make_sensor_data()
    >>> df.shape, int(df["anomaly"].sum())
    ((1800, 5), 33)
    """
    rng = np.random.default_rng(seed)
    frames = [_sensor_rows(kind, n_per_type, rng) for kind in SENSOR_TYPES]
    frame = pd.concat(frames).sample(frac=1, random_state=seed)
    return frame.reset_index(drop=True)
