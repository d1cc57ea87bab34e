"""Saving and loading with skops (skhyper.dump / skhyper.load) and pickle.

A saved model must load with exactly ``skhyper.TRUSTED_TYPES`` trusted and
predict identically; a file with any other type must be refused before
anything in it is built; and the file must hold no pickled torch module
(skorch pickles its module into bytes, which would make "safe" loading run
pickle after all).
"""

import copy
import datetime
import enum
import io
import json
import pickle
import sys
import warnings
import zipfile
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import torch
from _helpers import CLASSIFIERS, ESTIMATORS, TINY, outputs, target
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skops.io.exceptions import UntrustedTypesFoundException
from skorch.exceptions import DeviceWarning
from skorch.net import NeuralNet

import skhyper
from skhyper import TRUSTED_TYPES, HyperNetworkClassifier

ENCODINGS = ["standard", "quantile", "piecewise_linear"]

# The fitted attributes a round trip must keep (besides the predictions).
ARRAY_ATTRIBUTES = ("feature_names_in_", "n_features_in_", "n_iter_", "batch_size_")
FRAME_ATTRIBUTES = ("history_", "context_embeddings_")
# Attributes of make_table()'s "ctx" values, and of one value never seen.
ATTRIBUTES = pd.DataFrame(
    {"area": [1.5, 2.0, 0.5, 3.0], "zone": ["n", "s", "s", "n"]},
    index=pd.Index(["a", "b", "c", "d"], name="ctx"),
)


def make_table(n=120, seed=0):
    """Two context columns (strings and integers), a categorical feature,
    and a numeric column with missing values."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "ctx": rng.choice(["a", "b", "c"], n),
            "site": rng.choice([1, 2], n),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n)),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
        }
    )
    X.loc[::7, "x2"] = np.nan
    y = (X["x1"] + (X["ctx"] == "a") > 0.3).astype(int).to_numpy()
    return X, y


def fit_model(cls, numeric_encoding="standard", **params):
    X, y = make_table()
    params = {"context_column": ["ctx", "site"], **TINY[cls], **params}
    model = cls(
        numeric_encoding=numeric_encoding,
        handle_unknown="learned",
        max_epochs=3,
        random_state=0,
        **params,
    )
    return model.fit(X, target(cls, y)), X


def tiny_classifier(**params):
    return HyperNetworkClassifier(
        max_epochs=2, random_state=0, **TINY[HyperNetworkClassifier], **params
    )


def skops_round_trip(obj):
    buffer = io.BytesIO()
    skhyper.dump(obj, buffer)
    return skhyper.load(io.BytesIO(buffer.getvalue())), buffer.getvalue()


def assert_same_model(model, loaded, X):
    assert type(loaded) is type(model)
    assert np.array_equal(outputs(loaded, X), outputs(model, X))
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.array_equal(loaded.transform(X), model.transform(X))
    assert loaded.get_params() == model.get_params()
    for name in ARRAY_ATTRIBUTES:
        assert np.array_equal(getattr(loaded, name), getattr(model, name)), name
    for name in FRAME_ATTRIBUTES:
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(model, name))
    for name in ("classes_", "target_mean_", "target_scale_"):
        if hasattr(model, name):
            assert np.array_equal(getattr(loaded, name), getattr(model, name)), name
    for saved, back in zip(
        model.context_categories_, loaded.context_categories_, strict=True
    ):
        assert np.array_equal(saved, back)
    if hasattr(model, "generated_weights"):
        for saved, back in zip(
            model.generated_weights(("b", 2)),
            loaded.generated_weights(("b", 2)),
            strict=True,
        ):
            assert np.array_equal(saved, back)


# -- round trips ---------------------------------------------------------------


@pytest.mark.parametrize("numeric_encoding", ENCODINGS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_skops_round_trip_predicts_identically(cls, numeric_encoding):
    model, X = fit_model(cls, numeric_encoding)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean load: no version or device noise
        loaded, _ = skops_round_trip(model)
    assert_same_model(model, loaded, X)
    # The unknown-context embedding survives too.
    unseen = X.assign(ctx="never seen")
    assert np.array_equal(outputs(loaded, unseen), outputs(model, unseen))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pickle_round_trip_predicts_identically(cls):
    model, X = fit_model(cls)
    assert_same_model(model, pickle.loads(pickle.dumps(model)), X)


def test_round_trip_through_a_path(tmp_path):
    model, X = fit_model(HyperNetworkClassifier)
    path = tmp_path / "model.skops"
    skhyper.dump(model, path)
    assert_same_model(model, skhyper.load(path), X)
    assert_same_model(model, skhyper.load(str(path)), X)


def test_pipeline_round_trip_needs_no_further_type():
    X, y = make_table()
    pipeline = make_pipeline(
        FunctionTransformer(),  # identity; passes the DataFrame on
        HyperNetworkClassifier(
            context_column=["ctx", "site"], max_epochs=2, random_state=0
        ),
    ).fit(X, y)
    data = sio.dumps(pipeline)
    # Pipeline and FunctionTransformer are scikit-learn estimators, which
    # skops trusts by default: the model's own types are all it adds.
    untrusted = sio.get_untrusted_types(data=data)
    assert "skhyper._classifiers.HyperNetworkClassifier" in untrusted
    assert set(untrusted) <= set(TRUSTED_TYPES)
    loaded = skhyper.load(io.BytesIO(data))
    assert np.array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    assert np.array_equal(loaded.transform(X), pipeline.transform(X))


def test_a_pipeline_with_scikit_learns_imputer_loads_without_extra_trust():
    """The README's pipeline: SimpleImputer keeps a numpy.dtype, which
    skops does not trust by default, so skhyper.load refused it although
    the docs promise that scikit-learn's own transformers add nothing."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import KBinsDiscretizer

    X, y = make_table()
    prepare = make_column_transformer(
        (SimpleImputer(), ["x2"]),
        (KBinsDiscretizer(n_bins=3, encode="ordinal"), ["x1"]),
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipeline = make_pipeline(
        prepare, tiny_classifier(context_column=["ctx", "site"])
    ).fit(X, y)
    loaded, _ = skops_round_trip(pipeline)
    assert np.array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_loaded_model_refits_clones_and_saves_again():
    model, X = fit_model(HyperNetworkClassifier)
    loaded, _ = skops_round_trip(model)
    # Saved again after loading: the restored net still describes itself.
    again, _ = skops_round_trip(loaded)
    assert_same_model(model, again, X)
    # Refitting with the same random_state retrains to the same model.
    _, y = make_table()
    refit_loaded = loaded.fit(X, y)
    refit_fresh = clone(model).fit(X, y)
    assert np.array_equal(refit_loaded.predict_proba(X), refit_fresh.predict_proba(X))
    assert clone(loaded).get_params() == model.get_params()


def test_old_pickles_with_the_skorch_net_still_load():
    # Pickles written before the plain-data form hold the skorch net itself
    # (the estimator's __dict__, as BaseEstimator.__getstate__ returned it).
    model, X = fit_model(HyperNetworkClassifier)
    old_state = dict(vars(model))
    restored = HyperNetworkClassifier.__new__(HyperNetworkClassifier)
    restored.__setstate__(pickle.loads(pickle.dumps(old_state)))
    assert np.array_equal(restored.predict_proba(X), model.predict_proba(X))


def test_loading_leaves_torch_global_state_alone():
    model, _ = fit_model(HyperNetworkClassifier, n_threads=1)
    data = sio.dumps(model)
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    skhyper.load(io.BytesIO(data))
    pickle.loads(pickle.dumps(model))
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)


# -- what is trusted -----------------------------------------------------------


def test_trusted_types_are_exactly_what_the_models_need():
    needed = set()
    for cls in ESTIMATORS:
        model, _ = fit_model(cls)
        untrusted = set(sio.get_untrusted_types(data=sio.dumps(model)))
        assert untrusted <= set(TRUSTED_TYPES), untrusted - set(TRUSTED_TYPES)
        needed |= untrusted
    # A device given as torch.device rather than a string.
    on_device, _ = fit_model(HyperNetworkClassifier, device=torch.device("cpu"))
    loaded, data = skops_round_trip(on_device)
    assert loaded.device == torch.device("cpu")
    needed |= set(sio.get_untrusted_types(data=data))
    # context_attributes (a DataFrame parameter, saved as plain lists).
    with_attributes, _ = fit_model(
        HyperNetworkClassifier, context_column="ctx", context_attributes=ATTRIBUTES
    )
    loaded, data = skops_round_trip(with_attributes)
    pd.testing.assert_frame_equal(loaded.context_attributes, ATTRIBUTES)
    needed |= set(sio.get_untrusted_types(data=data))
    assert needed == set(TRUSTED_TYPES)
    assert TRUSTED_TYPES == sorted(TRUSTED_TYPES)


def test_unfitted_model_needs_only_its_own_class():
    data = sio.dumps(skhyper.ConcatRegressor(context_column="ctx", hidden_size=4))
    assert sio.get_untrusted_types(data=data) == ["skhyper._regressors.ConcatRegressor"]
    assert skhyper.load(io.BytesIO(data)).get_params()["hidden_size"] == 4


class Payload:
    """A class no one has reviewed: what an attacker's file would name."""


def test_a_model_carrying_an_unknown_type_is_refused():
    model, _ = fit_model(HyperNetworkClassifier)
    model.note_ = Payload()
    buffer = io.BytesIO()
    skhyper.dump(model, buffer)
    with pytest.raises(UntrustedTypesFoundException, match="Payload"):
        skhyper.load(io.BytesIO(buffer.getvalue()))
    # Trusting it explicitly is the caller's decision: one name, or a list
    # (a single string was split into its characters).
    name = f"{Payload.__module__}.{Payload.__qualname__}"
    for trusted in ([name], name):
        loaded = skhyper.load(io.BytesIO(buffer.getvalue()), extra_trusted=trusted)
        assert isinstance(loaded.note_, Payload)


def test_a_file_that_dump_did_not_write_is_a_clear_error():
    """A cut-short file, or another kind of file: zipfile's bare
    BadZipFile said nothing of skops or what to do."""
    model, _ = fit_model(HyperNetworkClassifier)
    buffer = io.BytesIO()
    skhyper.dump(model, buffer)
    for data in (buffer.getvalue()[:200], b"not a model"):
        with pytest.raises(ValueError, match="not a file that skhyper.dump"):
            skhyper.load(io.BytesIO(data))


def test_a_path_checkpoint_comes_back_a_path(tmp_path):
    """skops trusts str, not pathlib's classes, so the state holds a string;
    a loaded (or copied) model got it back as one."""
    model = HyperNetworkClassifier("ctx", checkpoint=tmp_path / "fit")
    copies = (
        skops_round_trip(model)[0],
        pickle.loads(pickle.dumps(model)),
        copy.deepcopy(model),
    )
    for copied in copies:
        assert copied.checkpoint == tmp_path / "fit"
        assert isinstance(copied.checkpoint, type(tmp_path))


def rewrite_schema(data: bytes, edit) -> bytes:
    """The skops file ``data`` with its schema.json passed through ``edit``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target_zip:
        for name in source.namelist():
            content = source.read(name)
            if name == "schema.json":
                content = json.dumps(edit(json.loads(content))).encode()
            target_zip.writestr(name, content)
    return out.getvalue()


def test_a_tampered_file_naming_os_system_is_refused():
    model, _ = fit_model(HyperNetworkClassifier)

    def swap_encoder_for_os_system(schema):
        encoder = schema["content"]["content"]["encoder_"]
        numeric = encoder["content"]["content"]["numeric_encoder_"]
        numeric["__module__"], numeric["__class__"] = "os", "system"
        return schema

    tampered = rewrite_schema(sio.dumps(model), swap_encoder_for_os_system)
    with pytest.raises(UntrustedTypesFoundException, match="os.system"):
        skhyper.load(io.BytesIO(tampered))


def test_a_network_edited_to_disagree_with_its_encoder_is_refused():
    # Context codes beyond the embedding table would index out of range.
    model, _ = fit_model(HyperNetworkClassifier)

    def widen_context(schema):
        net = schema["content"]["content"]["net_"]["content"]
        size = net["module_params"]["content"]["context_sizes"]["content"][0]
        size["content"] = "2"
        del size["__id__"]  # else skops reuses the node of an equal integer
        return schema

    tampered = rewrite_schema(sio.dumps(model), widen_context)
    with pytest.raises(ValueError, match="context_sizes is \\[2, 2\\].*encoder"):
        skhyper.load(io.BytesIO(tampered))


# -- no pickle inside ----------------------------------------------------------


def refuse_to_unpickle(*args, **kwargs):
    raise AssertionError("loading unpickled a skorch net or torch object")


def test_skops_file_holds_no_pickled_torch_module(monkeypatch):
    model, X = fit_model(HyperNetworkClassifier)
    data = sio.dumps(model)
    archive = zipfile.ZipFile(io.BytesIO(data))
    schema = archive.read("schema.json").decode()
    # Raw bytes (BytesNode) are where skorch's pickled module went; every
    # other file in the archive is a .npy array, read with allow_pickle=False.
    assert "BytesNode" not in schema and "BytearrayNode" not in schema
    assert "skorch" not in schema
    assert all(
        name == "schema.json" or name.endswith(".npy") for name in archive.namelist()
    )

    monkeypatch.setattr(torch, "load", refuse_to_unpickle)
    monkeypatch.setattr(NeuralNet, "__setstate__", refuse_to_unpickle)
    loaded = skhyper.load(io.BytesIO(data))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_pickle_holds_no_nested_torch_pickle(monkeypatch):
    # pickle goes through the same hooks: the module is stored as arrays.
    model, X = fit_model(HyperNetworkClassifier)
    data = pickle.dumps(model)
    monkeypatch.setattr(NeuralNet, "__setstate__", refuse_to_unpickle)
    loaded = pickle.loads(data)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


# -- devices and missing skops -------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_a_model_saved_on_cuda_loads_where_cuda_is_absent(cls):
    model, X = fit_model(cls)
    state = model.__getstate__()
    state["net_"]["device"] = "cuda"  # as saved from a GPU fit
    restored = cls.__new__(cls)
    if torch.cuda.is_available():
        restored.__setstate__(state)
        assert next(restored.net_.module_.parameters()).device.type == "cuda"
    else:
        with pytest.warns(DeviceWarning, match="no CUDA devices"):
            restored.__setstate__(state)
        assert str(restored.net_.device) == "cpu"
    np.testing.assert_allclose(
        restored.predict_proba(X), model.predict_proba(X), atol=1e-6
    )


def test_missing_skops_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(ImportError, match=r'pip install "skhyper\[skops\]"'):
        skhyper.dump(HyperNetworkClassifier(), io.BytesIO())
    with pytest.raises(ImportError, match="skops"):
        skhyper.load(io.BytesIO(b""))


# -- pandas values in categories, names skops cannot store, devices -------------


def string_array(values):
    return pd.array(values, dtype="string")


@pytest.mark.filterwarnings("ignore:.*fewer than 10 rows in fit")  # "d", 3: none
@pytest.mark.parametrize(
    "declare", [pd.Index, string_array], ids=["cat.categories", "string-array"]
)
def test_pandas_categories_round_trip_with_only_the_trusted_types(declare):
    """``categories`` holding pandas values (``X[c].cat.categories``, a
    pd.Index; ``X[c].unique()``, an ArrowStringArray under pandas 3) is
    saved as plain lists and given back as what was passed: the dump used
    to fail (Index) or the load to refuse pandas and pyarrow types."""
    declared = declare(["a", "b", "c", "d"])
    model, X = fit_model(
        HyperNetworkClassifier, categories={"ctx": declared, "site": [1, 2, 3]}
    )
    loaded, data = skops_round_trip(model)
    assert set(sio.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
    for back in (loaded, pickle.loads(pickle.dumps(model))):
        again = back.categories["ctx"]
        assert type(again) is type(declared)
        assert again.dtype == declared.dtype
        assert list(again) == list(declared)
        assert back.categories["site"] == [1, 2, 3]
        assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    # The caller's parameter is left as it was.
    assert model.categories["ctx"] is declared


# Declared categories in an order of their own, and one ("e") no row holds.
ORDERED = pd.Categorical(
    ["a", "b", "c", "d"], categories=["d", "c", "b", "a", "e"], ordered=True
)


def assert_same_declared(before, after):
    """The same value: type, dtype (a categorical's categories and order),
    name, index and items."""
    assert type(after) is type(before)
    if isinstance(before, pd.Index):
        pd.testing.assert_index_equal(after, before, exact=True)
    elif isinstance(before, pd.Series):
        pd.testing.assert_series_equal(after, before)
    elif isinstance(before, pd.api.extensions.ExtensionArray):
        pd.testing.assert_extension_array_equal(after, before)
    else:
        assert after == before


@pytest.mark.filterwarnings("ignore:.*fewer than 10 rows in fit")  # "d", 3: none
@pytest.mark.parametrize(
    "declared",
    [
        ORDERED,
        pd.CategoricalIndex(ORDERED, name="ctx"),
        pd.Series(ORDERED, name="ctx", index=[10, 11, 12, 13]),
        pd.Series(list("abcd"), dtype="category", index=list("wxyz")),
        # X["ctx"].drop_duplicates() of a table indexed by time (no freq).
        pd.Series(list("abcd"), index=pd.to_datetime(["2024-01-01", "2024-03-05"] * 2)),
    ],
    ids=[
        "Categorical",
        "CategoricalIndex",
        "ordered-Series",
        "category-Series",
        "date-indexed-Series",
    ],
)
def test_categorical_categories_keep_their_dtype_through_round_trips(declared):
    """A categorical value in ``categories`` comes back as get_params() gave
    it before saving: its declared categories and order (and a Series its
    index), as context_attributes keeps its categorical columns."""
    model, X = fit_model(
        HyperNetworkClassifier, categories={"ctx": declared, "site": [1, 2, 3]}
    )
    before = model.get_params()["categories"]
    loaded, data = skops_round_trip(model)
    assert set(sio.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
    for back in (loaded, pickle.loads(pickle.dumps(model))):
        after = back.get_params()["categories"]
        assert list(after) == list(before)
        for key, value in before.items():
            assert_same_declared(value, after[key])
        assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def test_categories_without_pandas_values_are_saved_as_they_are():
    from skhyper._persistence import categories_from_plain, categories_to_plain

    plain = {"ctx": ["a", "b"], "site": np.array([1, 2])}
    assert categories_to_plain(plain) is plain
    assert categories_to_plain(None) is None
    series = pd.Series(["b", "a"], name="ctx")
    back = categories_from_plain(categories_to_plain({0: series, 1: (1, 2)}))
    pd.testing.assert_series_equal(back[0], series)
    assert back[1] == (1, 2)


def test_categories_saved_before_dtypes_and_indexes_were_kept_still_load():
    """Entries written by earlier versions: the dtype by its name only, a
    Series without its index. They load as they did then."""
    from skhyper._persistence import categories_from_plain

    old = {
        "skhyper.categories": [
            ["ctx", "series", "category", "ctx", ["b", "a"]],
            ["site", "index", "int64", None, [1, 2]],
            ["shift", None, None, None, ("x", "y")],
        ]
    }
    back = categories_from_plain(old)
    pd.testing.assert_series_equal(
        back["ctx"], pd.Series(["b", "a"], dtype="category", name="ctx")
    )
    pd.testing.assert_index_equal(back["site"], pd.Index([1, 2]), exact=True)
    assert back["shift"] == ("x", "y")


def test_attribute_columns_named_by_tuples_are_a_clear_error_at_dump():
    """A MultiIndex column of context_attributes: skops would fail inside
    json with a TypeError; dump says which column and what to do."""
    attributes = ATTRIBUTES.set_axis(
        pd.MultiIndex.from_tuples([("num", "area"), ("cat", "zone")]), axis=1
    )
    model, _ = fit_model(
        HyperNetworkClassifier,
        context_column="ctx",
        context_attributes=attributes,
    )
    message = r"column is named \('cat', 'zone'\).*table.columns = "
    pipeline = make_pipeline(FunctionTransformer(), model)
    # A search's best Pipeline too: its steps were not looked at (json's
    # bare TypeError).
    X, y = make_table()
    search = GridSearchCV(
        clone(pipeline), {"functiontransformer__validate": [False]}, cv=2
    )
    search.fit(X, target(HyperNetworkClassifier, y))
    for obj in (model, pipeline, search):
        with pytest.raises(ValueError, match=message):
            skhyper.dump(obj, io.BytesIO())
    # An unfitted model holds the parameter only, as plain lists: it saves.
    unfitted, _ = skops_round_trip(clone(model))
    pd.testing.assert_frame_equal(unfitted.context_attributes, attributes)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    ("device", "says"),
    [
        ("gpu", "device='gpu' is not a torch device"),
        # Unavailable on any machine: no CUDA, or fewer than 100 GPUs.
        ("cuda:99", "device='cuda:99' is unavailable"),
    ],
)
def test_an_unavailable_device_is_a_value_error_that_says_what_to_do(
    method, device, says
):
    X, y = make_table()
    model = HyperNetworkClassifier("ctx", **TINY[HyperNetworkClassifier])
    model.set_params(device=device, max_epochs=1)
    kwargs = {"classes": [0, 1]} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match=f"{says}.*device='cpu'"):
        getattr(model, method)(X, y, **kwargs)
    assert not hasattr(model, "net_")


def test_a_model_loaded_from_another_device_trains_on_after_set_params():
    """A model trained on a GPU keeps its device parameter when loaded on a
    machine without it (its net is moved to the CPU): training on says to
    set device='cpu', and then does."""
    model, X = fit_model(HyperNetworkClassifier)
    state = model.__getstate__()
    state["device"] = "cuda:99"
    loaded = HyperNetworkClassifier.__new__(HyperNetworkClassifier)
    loaded.__setstate__(state)
    _, y = make_table()
    with pytest.raises(ValueError, match=r"set_params\(device='cpu'\)"):
        loaded.partial_fit(X, y)
    loaded.set_params(device="cpu").partial_fit(X, y)
    assert loaded.net_.history[-1]["epoch"] == model.net_.history[-1]["epoch"] + 1


# -- context values of pandas and standard-library types ------------------------

START = pd.Timestamp("2024-03-01 08:00", tz="Europe/Berlin")
CONTEXT_VALUES = {
    # pd.cut's bins, as a categorical column and as objects.
    "interval-categorical": lambda k: pd.cut(k / 4.0 + 0.1, [0.0, 0.5, 1.0]),
    "interval-object": lambda k: pd.Series(
        pd.cut(k / 4.0 + 0.1, [0.0, 0.5, 1.0]), dtype=object
    ),
    "interval-of-dates": lambda k: pd.Series(
        [pd.Interval(START, START + pd.Timedelta(days=1 + int(i))) for i in k],
        dtype=object,
    ),
    "timestamp-with-zone": lambda k: pd.Categorical(
        [START + pd.Timedelta(hours=int(i)) for i in k]
    ),
    "timedelta": lambda k: pd.Categorical(pd.to_timedelta(k, unit="s")),
    "period": lambda k: pd.Categorical(
        pd.period_range("2024-01", periods=4, freq="M")[k]
    ),
    "date-object": lambda k: pd.Series(
        [(START + pd.Timedelta(days=int(i))).date() for i in k], dtype=object
    ),
    "decimal-object": lambda k: pd.Series(
        [Decimal("0.5") * int(i) for i in k], dtype=object
    ),
}


@pytest.mark.filterwarnings("ignore:.*fewer than 10 rows in fit")
@pytest.mark.parametrize("cls", [HyperNetworkClassifier, skhyper.ConcatRegressor])
@pytest.mark.parametrize("kind", list(CONTEXT_VALUES))
def test_context_values_of_pandas_types_load_with_only_the_trusted_types(cls, kind):
    """Intervals (pd.cut), timestamps, durations, periods, dates and
    decimals as context values: dump wrote them as pandas or
    standard-library objects, which load then refused (untrusted types).
    They are saved as plain data and come back equal, of their own type."""
    X, y = make_table(n=80)
    codes = np.arange(len(X)) % 4
    X["ctx"] = CONTEXT_VALUES[kind](codes)
    model = cls(context_column="ctx", max_epochs=2, random_state=0, **TINY[cls])
    model.fit(X, target(cls, y))
    loaded, data = skops_round_trip(model)
    assert set(sio.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
    assert np.array_equal(outputs(loaded, X), outputs(model, X))
    saved = model.encoder_.context_encoders_[0].categories_
    back = loaded.encoder_.context_encoders_[0].categories_
    assert back.dtype == object and list(back) == list(saved)
    assert [type(v) for v in back] == [type(v) for v in saved]
    assert [str(v) for v in back] == [str(v) for v in saved]  # zones, units


@pytest.mark.parametrize(
    "declared",
    [
        [pd.Interval(0.0, 0.5), pd.Interval(0.5, 1.0)],
        (pd.Interval(0.0, 0.5), pd.Interval(0.5, 1.0)),
        pd.IntervalIndex.from_breaks([0.0, 0.5, 1.0]),
        np.array([pd.Interval(0.0, 0.5), pd.Interval(0.5, 1.0)], dtype=object),
    ],
    ids=["list", "tuple", "IntervalIndex", "object-array"],
)
def test_declared_interval_categories_come_back_as_they_were_given(declared):
    """``categories={"ctx": list(X.ctx.cat.categories)}`` of pd.cut's bins:
    the load refused pandas.Interval. get_params() is the same after."""
    X, y = make_table(n=80)
    X["ctx"] = pd.cut(np.arange(len(X)) % 2 / 2 + 0.1, [0.0, 0.5, 1.0])
    model = tiny_classifier(
        context_column="ctx",
        categories={"ctx": declared},
    ).fit(X, y)
    loaded, data = skops_round_trip(model)
    assert set(sio.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
    after = loaded.get_params()["categories"]["ctx"]
    assert type(after) is type(declared)
    if isinstance(declared, pd.Index):
        pd.testing.assert_index_equal(after, declared, exact=True)
    else:
        assert list(after) == list(declared)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_an_unseen_interval_listed_in_context_attributes_survives_a_round_trip():
    bins = pd.IntervalIndex.from_breaks([0.0, 0.5, 1.0, 1.5], name="ctx")
    attributes = pd.DataFrame({"width": [0.5, 0.6, 0.7]}, index=bins)
    X, y = make_table(n=80)
    X["ctx"] = pd.cut(np.arange(len(X)) % 2 / 2 + 0.1, [0.0, 0.5, 1.0])
    model = tiny_classifier(
        context_column="ctx",
        context_attributes=attributes,
    ).fit(X, y)
    loaded, data = skops_round_trip(model)
    assert set(sio.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
    pd.testing.assert_frame_equal(loaded.context_attributes, attributes)
    unseen = X.head(3).assign(ctx=pd.Interval(1.0, 1.5))
    assert np.array_equal(loaded.predict_proba(unseen), model.predict_proba(unseen))


class Site:
    """A context value of the user's own type (hashable and ordered)."""

    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, Site) and other.name == self.name

    def __lt__(self, other):
        return self.name < other.name

    def __hash__(self):
        return hash(self.name)


def test_a_context_of_the_users_own_type_is_refused_with_what_to_do():
    """A type of the user's own is one load cannot know to trust: the
    refusal says how to trust it, and trusting it loads the model."""
    X, y = make_table(n=40)
    X["ctx"] = pd.Series([Site("ab"[i % 2]) for i in range(len(X))], dtype=object)
    model = tiny_classifier(
        context_column="ctx",
    ).fit(X, y)
    buffer = io.BytesIO()
    skhyper.dump(model, buffer)
    with pytest.raises(UntrustedTypesFoundException, match="Site") as raised:
        skhyper.load(io.BytesIO(buffer.getvalue()))
    assert "extra_trusted=[" in str(raised.value)
    name = f"{Site.__module__}.{Site.__qualname__}"
    loaded = skhyper.load(io.BytesIO(buffer.getvalue()), extra_trusted=name)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_value_whose_zone_its_name_does_not_rebuild_is_kept_as_it_is():
    from skhyper._plain import scalar_from_plain, scalar_to_plain

    class Zone(datetime.tzinfo):  # a zone pandas cannot rebuild by name
        def utcoffset(self, dt):
            return datetime.timedelta(hours=2)

        def dst(self, dt):
            return datetime.timedelta(0)

        def tzname(self, dt):
            return "custom"

    odd = pd.Timestamp(datetime.datetime(2024, 1, 1, tzinfo=Zone()))
    assert scalar_to_plain(odd) is odd
    for value in (pd.Interval(START, START + pd.Timedelta(hours=1)), Decimal("2.5")):
        plain = scalar_to_plain(value)
        assert json.loads(json.dumps(plain)) == plain  # builtins only
        assert scalar_from_plain(plain) == value


class Colour(enum.Enum):
    RED = 1
    BLUE = 2


def test_enum_contexts_are_refused_at_dump_not_after():
    """skops writes Enum members but cannot build one at load, even
    trusted (a TypeError from Enum.__new__): the file could never be
    loaded. dump refuses, naming the column and the fix; pickle keeps them."""
    X, y = make_table(n=40)
    X["ctx"] = pd.Series([Colour(1 + i % 2) for i in range(len(X))], dtype=object)
    model, _ = fit_model(HyperNetworkClassifier, context_column="ctx")
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"'ctx'.*Enum member.*pickle"):
        skhyper.dump(model, io.BytesIO())
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))


def test_context_attributes_keep_their_columns_name_and_range_index():
    """The parameter comes back as it was given: the columns' name was
    dropped and a RangeIndex came back an Index of its numbers."""
    attributes = pd.DataFrame({"area": [1.5, 2.0], "zone": ["n", "s"]})
    attributes.columns.name = "attribute"
    X, y = make_table(n=60)
    X["site"] = np.arange(len(X)) % 2
    model = tiny_classifier(
        context_column="site",
        context_attributes={"site": attributes},
    ).fit(X, y)
    loaded, _ = skops_round_trip(model)
    for back in (loaded, copy.deepcopy(model)):
        table = back.get_params()["context_attributes"]["site"]
        pd.testing.assert_frame_equal(table, attributes, check_index_type=True)
        assert isinstance(table.index, pd.RangeIndex)
        assert table.columns.name == "attribute"
    # A warm start on the loaded model sees the same table (its digest).
    loaded.set_params(warm_start=True, max_epochs=1).fit(X, y)


def test_an_attribute_tables_digest_is_the_one_earlier_versions_saved():
    """Saved digests are compared with the parameter when a loaded model
    trains on; the details stored since (the columns' name, a RangeIndex)
    are not part of it, so older files still match their tables."""
    from skhyper._attributes import attributes_digest

    table = pd.DataFrame(
        {"a": [1.0, 2.0], "z": ["n", "s"]}, index=pd.Index(["x", "y"], name="ctx")
    )
    assert attributes_digest(table) == (
        "56d068bc8c1ea82672b8c2c9dfd793c7c7c684d2f0ff8d9e6620822473372d66"
    )
    table.columns.name = "attribute"
    assert attributes_digest(table) == (
        "56d068bc8c1ea82672b8c2c9dfd793c7c7c684d2f0ff8d9e6620822473372d66"
    )


def test_strings_held_as_object_or_str_give_one_digest():
    """pandas 2 holds strings as object, pandas 3 as str: the digest named
    the dtype, so a model saved under one refused a warm start under the
    other ("context_attributes changed") on the same table."""
    from skhyper._attributes import attributes_digest

    table = pd.DataFrame(
        {"a": [1.0, 2.0], "z": ["n", "s"]}, index=pd.Index(["x", "y"], name="ctx")
    )
    held_as_object = table.astype({"z": object}).set_axis(
        table.index.astype(object), axis=0
    )
    assert held_as_object["z"].dtype == object
    assert held_as_object.index.dtype == object
    assert attributes_digest(held_as_object) == attributes_digest(table)
    assert attributes_digest(table.assign(z=["n", "t"])) != attributes_digest(table)
    mixed = table.astype({"z": object}).assign(z=["n", 1])
    assert attributes_digest(mixed) != attributes_digest(table)


def test_a_digest_saved_before_strings_were_alike_still_matches():
    """Files from before the digest named object-held strings as str carry
    the older digest; their table is still the same table."""
    from skhyper._attributes import attributes_digest

    attributes = pd.DataFrame(
        {"area": [1.5, 2.0], "zone": ["n", "s"]},
        index=pd.Index(["a", "b"], dtype=object),
    ).astype({"zone": object})
    X, y = make_table(n=60)
    X["site"] = np.where(np.arange(len(X)) % 2, "a", "b")
    model = tiny_classifier(
        context_column="site", context_attributes={"site": attributes}
    ).fit(X, y)
    loaded, _ = skops_round_trip(model)
    encoder = loaded.encoder_
    older = attributes_digest({"site": attributes}, strings_alike=False)
    assert older != attributes_digest({"site": attributes})
    encoder.attributes_digest_ = older
    loaded.set_params(warm_start=True, max_epochs=1).fit(X, y)
    encoder.attributes_digest_ = "not the digest of this table"
    with pytest.raises(ValueError, match="context_attributes"):
        loaded.fit(X, y)


def test_dates_beyond_nanoseconds_range_still_pickle():
    """9999-12-31, a common "no end" date, as a context value: its plain
    form needs nanoseconds, which it overflows; it is kept as it is (pickle
    and deepcopy raised OutOfBoundsDatetime)."""
    X, y = make_table(n=60)
    far = pd.Timestamp("9999-12-31").as_unit("s")
    X["ctx"] = pd.Series([far, pd.Timestamp("2024-01-01")] * 30, dtype=object)
    model = tiny_classifier(context_column="ctx").fit(X, y)
    for back in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def test_an_ordered_categorical_of_intervals_keeps_its_dtype():
    """Its categories were tagged but not rebuilt, and the dtype fell back
    to the inferred interval one (a warm start then saw changed
    context_attributes)."""
    bins = pd.IntervalIndex.from_breaks([0.0, 0.5, 1.0, 1.5])
    declared = pd.Categorical(bins[:2], categories=bins, ordered=True)
    X, y = make_table(n=60)
    X["ctx"] = pd.cut(np.arange(len(X)) % 2 / 2 + 0.1, [0.0, 0.5, 1.0])
    model = tiny_classifier(context_column="ctx", categories={"ctx": declared})
    model.fit(X, y)
    loaded, _ = skops_round_trip(model)
    after = loaded.get_params()["categories"]["ctx"]
    assert after.dtype == declared.dtype
    assert list(after) == list(declared)
