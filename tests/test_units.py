"""Unit tests of the pieces the estimators are built from: the encoders, the
tensor data feed and the training callbacks, each on its own."""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from skorch import NeuralNetRegressor
from skorch.history import History

from skhyper._callbacks import (
    DIVERGENCE_FACTOR,
    DecayPath,
    RaiseOnDivergence,
    StopOnConvergence,
    TrainingDivergedError,
    WeightAveraging,
)
from skhyper._categories import CategoryEncoder
from skhyper._data import TensorBatches, TensorTable
from skhyper._encoding import EncodedTable, TableEncoder, as_table
from skhyper._numeric import STANDARDISED_CLIP, NumericEncoder
from skhyper._testing import make_context_frame

# -- CategoryEncoder -----------------------------------------------------------


def category_encoder(handle_unknown="error"):
    return CategoryEncoder("The context column 'ctx'", "ctx", handle_unknown)


def test_category_codes_are_sorted_and_do_not_depend_on_row_order():
    column = pd.Series(["b", "c", "a", "b", "c"])
    encoder = category_encoder()
    codes = encoder.fit(column)
    assert list(encoder.categories_) == ["a", "b", "c"]
    np.testing.assert_array_equal(codes, [1, 2, 0, 1, 2])
    assert codes.dtype == np.int64
    # The same values in another order get the same codes.
    other = category_encoder()
    other.fit(column[::-1].reset_index(drop=True))
    np.testing.assert_array_equal(other.encode(column), codes)
    # Encoding again is stable.
    np.testing.assert_array_equal(encoder.encode(column), codes)


def test_category_unknown_code_is_the_last_one():
    encoder = category_encoder("learned")
    encoder.fit(pd.Series(["x", "y", "z", "y"]))
    assert encoder.unknown_code == 3
    codes = encoder.encode(pd.Series(["z", "never", "x", "other"]))
    np.testing.assert_array_equal(codes, [2, 3, 0, 3])


def test_category_unseen_value_with_error_names_the_column_and_value():
    encoder = category_encoder("error")
    encoder.fit(pd.Series(["x", "y"]))
    with pytest.raises(
        ValueError, match=r"The context column 'ctx' holds value\(s\) not seen.*'w'"
    ):
        encoder.encode(pd.Series(["x", "w"]))


def test_category_missing_value_raises_with_error():
    encoder = category_encoder("error")
    encoder.fit(pd.Series(["x", "y"]))
    with pytest.raises(ValueError, match=r"'ctx' has 1 missing value"):
        encoder.encode(pd.Series(["x", None], dtype=object))
    with pytest.raises(ValueError, match=r"'ctx' has 1 missing value"):
        category_encoder("error").fit(pd.Series(["x", np.nan], dtype=object))


def test_category_missing_value_gets_the_unknown_code_with_learned():
    encoder = category_encoder("learned")
    codes = encoder.fit(pd.Series(["y", None, "x", np.nan], dtype=object))
    np.testing.assert_array_equal(encoder.categories_, ["x", "y"])
    np.testing.assert_array_equal(codes, [1, 2, 0, 2])
    codes = encoder.encode(pd.Series([pd.NA, "x", "w"], dtype=object))
    np.testing.assert_array_equal(codes, [2, 0, 2])


def test_category_infinite_value_raises():
    with pytest.raises(ValueError, match=r"holds infinite value\(s\) inf"):
        category_encoder().fit(pd.Series([1.0, np.inf]))


# -- NumericEncoder ------------------------------------------------------------


def test_standard_encoding_is_standardisation_with_population_std():
    rng = np.random.default_rng(0)
    raw = rng.normal(loc=[3.0, -2.0], scale=[2.0, 0.5], size=(50, 2))
    encoder = NumericEncoder("standard").fit(raw)
    np.testing.assert_allclose(encoder.mean_, raw.mean(axis=0))
    np.testing.assert_allclose(encoder.scale_, raw.std(axis=0, ddof=0))
    other = rng.normal(size=(7, 2)) * 4
    encoded = encoder.transform(other)
    assert encoded.shape == (7, 2) and encoded.dtype == np.float32
    expected = (other - raw.mean(axis=0)) / raw.std(axis=0)
    np.testing.assert_allclose(encoded, expected, rtol=1e-6)


def test_standardised_values_are_clipped():
    raw = np.arange(10.0).reshape(-1, 1)
    encoder = NumericEncoder("standard").fit(raw)
    encoded = encoder.transform(np.array([[1e30], [-1e30], [4.5]]))
    np.testing.assert_array_equal(
        encoded[:2, 0], [STANDARDISED_CLIP, -STANDARDISED_CLIP]
    )
    assert encoded[2, 0] == 0.0  # the mean


def test_numeric_indicators_follow_the_columns_missing_at_fit():
    raw = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, 5.0], [5.0, 6.0, 7.0]])
    encoder = NumericEncoder("standard").fit(raw)
    assert encoder.has_missing_.tolist() == [False, True, True]
    assert encoder.n_indicators == 2
    encoded = encoder.transform(raw)
    assert encoded.shape == (3, 5)
    np.testing.assert_array_equal(encoded[:, 3:], [[0, 1], [1, 0], [0, 0]])
    # A NaN at transform in column 0 (complete at fit) adds no indicator and
    # is filled with the training median (3.0), which standardises to 0.
    encoded = encoder.transform(np.array([[np.nan, 2.0, 5.0]]))
    assert encoded.shape == (1, 5)
    assert encoded[0, 0] == 0.0


def test_numeric_without_missing_values_has_no_indicators():
    raw = np.arange(12.0).reshape(4, 3)
    encoder = NumericEncoder("quantile").fit(raw)
    assert encoder.n_indicators == 0
    assert encoder.transform(raw).shape == (4, 3)


# -- TableEncoder and as_table -------------------------------------------------


def frame_with_a_category(n=40):
    X, _ = make_context_frame(n, seed=1)
    X["colour"] = np.where(X["x3"] > 0, "red", "blue")
    return X


def test_table_encoder_splits_and_encodes_the_columns():
    X = frame_with_a_category()
    encoder = TableEncoder("ctx", "error", "Test")
    encoded = encoder.fit_transform(X)
    assert isinstance(encoded, EncodedTable)
    assert encoded.numeric.shape == (len(X), 3)
    assert encoded.categorical.shape == (len(X), 1)
    assert encoded.context.shape == (len(X), 1)
    assert encoder.numeric_positions_ == [0, 1, 2]
    assert encoder.categorical_positions_ == [4]
    assert encoder.context_positions_ == [3]
    assert list(encoder.categories_) == ["a", "b", "c"]
    expected = X["ctx"].map({"a": 0, "b": 1, "c": 2}).to_numpy()
    np.testing.assert_array_equal(encoded.context[:, 0], expected)
    np.testing.assert_array_equal(
        encoded.categorical[:, 0], (X["colour"] == "red").astype(int)
    )
    # transform of the training table gives the same encoding.
    again = encoder.transform(X)
    for name in ["numeric", "categorical", "context"]:
        np.testing.assert_array_equal(getattr(again, name), getattr(encoded, name))


def test_table_encoder_unseen_context_learned_gets_the_unknown_code():
    X = frame_with_a_category()
    encoder = TableEncoder("ctx", "learned", "Test")
    encoder.fit_transform(X)
    test = X.head(3).assign(ctx=["b", "zzz", "yyy"], colour=["red", "green", "blue"])
    encoded = encoder.transform(test)
    np.testing.assert_array_equal(encoded.context[:, 0], [1, 3, 3])
    np.testing.assert_array_equal(encoded.categorical[:, 0], [1, 2, 0])


def test_table_encoder_unseen_value_with_error_names_the_column():
    X = frame_with_a_category()
    encoder = TableEncoder("ctx", "error", "Test")
    encoder.fit_transform(X)
    with pytest.raises(ValueError, match=r"context column 'ctx'.*not seen.*'zzz'"):
        encoder.transform(X.head(2).assign(ctx="zzz"))
    with pytest.raises(
        ValueError, match=r"categorical column 'colour'.*not seen.*'green'"
    ):
        encoder.transform(X.head(2).assign(colour="green"))


def test_table_encoder_indicators_only_for_columns_with_nan_at_fit():
    X = frame_with_a_category()
    X.loc[[2, 5], "x2"] = np.nan
    encoder = TableEncoder("ctx", "error", "Test")
    encoded = encoder.fit_transform(X)
    assert encoded.numeric.shape == (len(X), 4)
    np.testing.assert_array_equal(encoded.numeric[:, 3], X["x2"].isna())
    # A NaN in x1 at transform adds no column.
    assert encoder.transform(X.assign(x1=np.nan)).numeric.shape == (len(X), 4)


def test_as_table_keeps_a_dataframe_and_numbers_array_columns():
    X = frame_with_a_category(5)
    assert as_table(X, "Test") is X
    table = as_table(np.arange(6.0).reshape(3, 2), "Test")
    assert list(table.columns) == [0, 1]
    assert table.shape == (3, 2)


def test_as_table_list_of_rows_keeps_each_value_type():
    table = as_table([[1.5, "a"], [2.5, "b"]], "Test")
    assert table.shape == (2, 2)
    assert table.iloc[0, 0] == 1.5 and table.iloc[1, 1] == "b"
    assert isinstance(table.iloc[0, 1], str)


def test_as_table_rejects_an_empty_frame_naming_the_estimator():
    with pytest.raises(ValueError, match=r"0 sample\(s\).*required by Test"):
        as_table(pd.DataFrame({"x": []}), "Test")
    with pytest.raises(ValueError, match=r"0 feature\(s\).*required by Test"):
        as_table(pd.DataFrame(index=range(3)), "Test")


# -- TensorTable and TensorBatches -----------------------------------------------


def tensor_table(n=10, with_target=True):
    encoded = EncodedTable(
        numeric=np.arange(n * 2, dtype=np.float32).reshape(n, 2),
        categorical=np.arange(n, dtype=np.int64).reshape(n, 1) % 3,
        context=np.arange(n, dtype=np.int64).reshape(n, 1),
    )
    target = np.arange(n, dtype=np.float32) * 10 if with_target else None
    weight = np.linspace(0.5, 1.5, n) if with_target else None
    return TensorTable(encoded, target, weight, pooling=np.linspace(0, 1, n))


def assert_same_rows(a, b):
    inputs_a, target_a = a
    inputs_b, target_b = b
    assert inputs_a.keys() == inputs_b.keys()
    for name in inputs_a:
        assert torch.equal(inputs_a[name], inputs_b[name]), name
    if target_a is None:
        assert target_b is None
        return
    for x, y in zip(target_a, target_b, strict=True):
        assert torch.equal(x, y)


def test_rows_with_a_tensor_index_and_with_a_slice_agree():
    table = tensor_table()
    by_slice = table.rows(slice(3, 7))
    by_index = table.rows(torch.arange(3, 7))
    assert_same_rows(by_slice, by_index)
    inputs, (target, weight) = by_slice
    assert set(inputs) == {"numeric", "categorical", "context", "pooling"}
    np.testing.assert_array_equal(inputs["context"][:, 0].numpy(), [3, 4, 5, 6])
    np.testing.assert_array_equal(target.numpy(), [30, 40, 50, 60])
    assert weight.dtype == torch.float32
    # table[index] is rows(index).
    assert_same_rows(table[torch.tensor([9, 0])], table.rows(torch.tensor([9, 0])))


def test_rows_without_a_target():
    table = tensor_table(with_target=False)
    inputs, target = table.rows(slice(0, 2))
    assert target is None
    assert inputs["numeric"].shape == (2, 2)


def test_subset_is_a_table_of_those_rows():
    table = tensor_table()
    index = np.array([8, 1, 4])
    part = table.subset(index)
    assert isinstance(part, TensorTable)
    assert len(part) == 3
    assert_same_rows(part.rows(slice(None)), table.rows(torch.as_tensor(index)))


def batch_contexts(batches):
    return [inputs["context"][:, 0].tolist() for inputs, _ in batches]


@pytest.mark.parametrize(("n", "batch_size", "expected"), [(10, 3, 4), (9, 3, 3)])
def test_batches_len_is_the_number_of_batches(n, batch_size, expected):
    batches = TensorBatches(tensor_table(n), batch_size)
    assert len(batches) == expected
    assert len(list(batches)) == expected


def test_unshuffled_batches_keep_the_row_order():
    batches = TensorBatches(tensor_table(10), batch_size=4, shuffle=False)
    assert batch_contexts(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batch_contexts(batches) == batch_contexts(batches)


def test_shuffled_batches_cover_every_row_once_in_a_new_order_each_epoch():
    rng = np.random.RandomState(0)
    batches = TensorBatches(tensor_table(50), 8, shuffle=True, random_state=rng)
    epochs = [batch_contexts(batches) for _ in range(3)]
    orders = []
    for epoch in epochs:
        assert [len(b) for b in epoch] == [8] * 6 + [2]
        order = [row for batch in epoch for row in batch]
        assert sorted(order) == list(range(50))
        orders.append(order)
    assert orders[0] != list(range(50))
    assert orders[0] != orders[1] and orders[1] != orders[2]
    # The target travels with its row.
    for inputs, (target, _) in TensorBatches(
        tensor_table(50), 8, shuffle=True, random_state=np.random.RandomState(1)
    ):
        assert torch.equal(target, inputs["context"][:, 0].float() * 10)


def test_shuffled_batches_follow_the_random_state():
    def order(seed):
        rng = np.random.RandomState(seed)
        return batch_contexts(TensorBatches(tensor_table(30), 7, True, rng))

    assert order(3) == order(3)
    assert order(3) != order(4)


# -- callbacks on recorded histories -------------------------------------------


def fake_net(module=None, **attributes):
    return SimpleNamespace(history=History(), module_=module, **attributes)


def run_epochs(callback, net, records, before_epoch=None):
    """Feed each epoch's ``records`` (a dict) to the callback; return the
    epoch (1-based) at which it stopped training, or None."""
    callback.on_train_begin(net)
    for epoch, record in enumerate(records, start=1):
        net.history.new_epoch()
        if before_epoch is not None:
            before_epoch(epoch)
        for key, value in record.items():
            net.history.record(key, value)
        try:
            callback.on_epoch_end(net)
        except KeyboardInterrupt:
            return epoch
    return None


def losses(*values, key="train_loss"):
    return [{key: value} for value in values]


@pytest.mark.parametrize(
    ("curve", "tol", "patience", "stop"),
    [
        # Epoch 1 improves on inf; epochs 2 and 3 are misses.
        ([1.0, 1.0, 1.0, 1.0], 0.01, 2, 3),
        # With tol=0 an equal loss is "at least tol below" the best: no miss.
        ([1.0, 1.0, 1.0, 1.0], 0.0, 1, None),
        # A decrease of exactly tol counts as an improvement.
        ([1.0, 0.75, 0.5, 0.25, 0.25, 0.25], 0.25, 2, 6),
        # A decrease just under tol is a miss.
        ([1.0, 0.76, 0.52, 0.28], 0.25, 3, 4),
        # A miss, then an improvement resets the count.
        ([1.0, 1.0, 0.5, 0.5, 0.4, 0.4, 0.4], 0.01, 2, 7),
        # Steady improvement never stops.
        ([1.0, 0.9, 0.8, 0.7, 0.6], 0.05, 1, None),
    ],
)
def test_stop_on_convergence_stops_exactly_when_the_rule_says(
    curve, tol, patience, stop
):
    callback = StopOnConvergence(tol, patience)
    assert run_epochs(callback, fake_net(), losses(*curve)) == stop


def test_stop_on_convergence_in_a_skorch_net():
    """A tolerance no epoch can beat: epoch 1 improves on inf, then exactly
    ``patience`` misses end the fit."""
    torch.manual_seed(0)
    X = torch.randn(32, 3)
    y = X.sum(dim=1, keepdim=True)
    net = NeuralNetRegressor(
        torch.nn.Linear,
        module__in_features=3,
        module__out_features=1,
        max_epochs=20,
        train_split=None,
        verbose=0,
        callbacks=[("stop", StopOnConvergence(tol=1e9, patience=3))],
    )
    net.fit(X, y)
    assert len(net.history) == 4


class Marked(torch.nn.Module):
    """A module whose weights are all set to one number, to tell epochs'
    weights apart."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.register_buffer("steps", torch.tensor(0))

    def mark(self, value):
        with torch.no_grad():
            self.linear.weight.fill_(value)
            self.linear.bias.fill_(-value)

    @property
    def value(self):
        return self.linear.weight[0, 0].item()


def decay_net():
    module = Marked()
    optimizer = torch.optim.SGD(
        [
            {"params": [module.linear.weight], "weight_decay": 0.5},
            {"params": [module.linear.bias], "weight_decay": 0.0},
        ],
        lr=0.1,
    )
    return fake_net(module, optimizer_=optimizer)


def test_decay_path_moves_on_when_patience_runs_out_and_keeps_the_best():
    net = decay_net()
    callback = DecayPath([1.0, 0.1], patience=2, tol=0.0)
    weights_after = {}
    decays_after = {}

    def before_epoch(epoch):
        # The weights this epoch ends with; record what the callback left
        # after the previous epoch first.
        if epoch > 1:
            weights_after[epoch - 1] = net.module_.value
            decays_after[epoch - 1] = net.optimizer_.param_groups[0]["weight_decay"]
        net.module_.mark(float(epoch))

    curve = losses(0.5, 0.6, 0.7, 0.4, 0.45, 0.5, 0.1, key="valid_loss")
    stop = run_epochs(callback, net, curve, before_epoch)
    # Stage 0 from epoch 1: best at 1, misses at 2 and 3 -> next decay after
    # epoch 3 with epoch 1's weights; best at 4, misses at 5 and 6 -> stop.
    assert stop == 6
    assert net.history[:, "weight_decay"] == [1.0, 1.0, 1.0, 0.1, 0.1, 0.1]
    assert weights_after == {1: 1.0, 2: 2.0, 3: 1.0, 4: 4.0, 5: 5.0}
    assert decays_after == {1: 1.0, 2: 1.0, 3: 0.1, 4: 0.1, 5: 0.1}
    # Biases never decay.
    assert net.optimizer_.param_groups[1]["weight_decay"] == 0.0
    assert callback.best_decay_ == 0.1 and callback.best_loss_ == 0.4
    callback.on_train_end(net)
    assert net.module_.value == 4.0
    assert net.module_.linear.bias[0].item() == -4.0
    assert callback.best_weights_ is None


def test_decay_path_anneals_from_the_best_weights_under_their_decay():
    """After the last decay stalls, the annealed stage goes back to the best
    weights, sets the decay they were found with and a tenth of the
    learning rate, and stops when it stalls in turn; an improvement found
    there is kept like any other."""
    net = decay_net()
    callback = DecayPath([1.0, 0.1], patience=2, tol=0.0, anneal=0.1)
    assert callback.n_stages == 3
    state_after = {}

    def before_epoch(epoch):
        if epoch > 1:
            groups = net.optimizer_.param_groups
            state_after[epoch - 1] = (
                net.module_.value,
                groups[0]["weight_decay"],
                [g["lr"] for g in groups],
            )
        net.module_.mark(float(epoch))

    curve = losses(
        0.5, 0.4, 0.6, 0.7, 0.45, 0.5, 0.35, 0.36, 0.37, 0.9, key="valid_loss"
    )
    stop = run_epochs(callback, net, curve, before_epoch)
    # Decay 1.0: best at 2, misses at 3 and 4; decay 0.1 from epoch 2's
    # weights: misses at 5 and 6; the annealed stage from epoch 2's weights
    # under decay 1.0 (theirs): best at 7, misses at 8 and 9 -> stop.
    assert stop == 9
    assert state_after[4] == (2.0, 0.1, [0.1, 0.1])
    assert state_after[6] == (2.0, 1.0, [pytest.approx(0.01)] * 2)
    assert state_after[8] == (8.0, 1.0, [pytest.approx(0.01)] * 2)
    assert net.history[:, "weight_decay"] == [1.0] * 4 + [0.1] * 2 + [1.0] * 3
    assert net.history[:, "lr"] == [0.1] * 6 + [pytest.approx(0.01)] * 3
    assert callback.best_decay_ == 1.0 and callback.best_loss_ == 0.35
    callback.on_train_end(net)
    assert net.module_.value == 7.0


def test_decay_path_without_a_gain_when_annealing_keeps_the_path_best():
    net = decay_net()
    callback = DecayPath([0.5], patience=1, tol=0.0, anneal=0.1)
    curve = losses(0.5, 0.3, 0.4, 0.35, key="valid_loss")
    # Best at 2, a miss at 3 -> anneal from epoch 2's weights; a miss at 4.
    stop = run_epochs(callback, net, curve, lambda e: net.module_.mark(float(e)))
    assert stop == 4
    callback.on_train_end(net)
    assert net.module_.value == 2.0
    assert callback.best_decay_ == 0.5


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_decay_path_without_any_finite_score_is_a_clear_error(bad):
    """No epoch improves on inf: the next stage loaded best weights of None,
    a raw TypeError from load_state_dict (or, with one stage, the fit ended
    on its last weights without a word)."""
    for decays in ([1.0, 0.1], [1.0]):
        net = decay_net()
        callback = DecayPath(decays, patience=2, tol=0.0)
        with pytest.raises(TrainingDivergedError, match="no finite validation"):
            run_epochs(callback, net, losses(bad, bad, bad, key="valid_loss"))


def test_decay_path_first_decay_is_set_at_train_begin():
    net = decay_net()
    DecayPath([0.3, 0.03], patience=1, tol=0.0).on_train_begin(net)
    groups = net.optimizer_.param_groups
    assert [g["weight_decay"] for g in groups] == [0.3, 0.0]


def test_decay_path_with_one_decay_is_early_stopping_with_restore():
    net = decay_net()
    callback = DecayPath([0.5], patience=3, tol=0.05)
    curve = losses(1.0, 0.9, 0.96, 0.86, 0.87, 0.8, key="valid_loss")
    # 0.9 improves by 0.1; 0.96, 0.86 (by 0.04 < tol) and 0.87 are misses.
    stop = run_epochs(callback, net, curve, lambda e: net.module_.mark(float(e)))
    assert stop == 5
    callback.on_train_end(net)
    assert net.module_.value == 2.0


def test_decay_path_monitor_replaces_the_validation_loss():
    net = decay_net()
    scores = iter([3.0, 2.0, 2.5])
    callback = DecayPath([1.0], patience=1, tol=0.0, monitor=lambda n: next(scores))
    curve = losses(0.1, 0.2, 0.05, key="valid_loss")
    assert run_epochs(callback, net, curve) == 3
    assert net.history[:, "valid_monitor"] == [3.0, 2.0, 2.5]
    assert callback.best_loss_ == 2.0


def test_weight_averaging_averages_the_last_epochs_only():
    net = fake_net(Marked(), max_epochs=5)
    callback = WeightAveraging(n_epochs=3)
    run_epochs(callback, net, [{}] * 5, lambda e: net.module_.mark(float(e)))
    assert callback.n_averaged_ == 3
    callback.on_train_end(net)
    assert net.module_.value == pytest.approx((3 + 4 + 5) / 3)
    assert net.module_.linear.bias[1].item() == pytest.approx(-4.0)
    assert callback.mean_ is None


def test_weight_averaging_counts_the_epochs_of_its_own_fit():
    """A warm start's history begins with the epochs of the fit it goes on
    from: the last epochs of the new ones are averaged, not all of them."""
    net = fake_net(Marked(), max_epochs=5)
    for _ in range(5):  # the earlier fit's epochs
        net.history.new_epoch()
    callback = WeightAveraging(n_epochs=2)
    run_epochs(callback, net, [{}] * 5, lambda e: net.module_.mark(float(e)))
    assert callback.n_averaged_ == 2
    callback.on_train_end(net)
    assert net.module_.value == pytest.approx((4 + 5) / 2)


def test_weight_averaging_of_one_epoch_keeps_the_last_weights():
    net = fake_net(Marked(), max_epochs=4)
    callback = WeightAveraging(n_epochs=1)
    run_epochs(callback, net, [{}] * 4, lambda e: net.module_.mark(float(e)))
    callback.on_train_end(net)
    assert net.module_.value == 4.0


def test_weight_averaging_stopped_early_keeps_the_weights_it_has():
    net = fake_net(Marked(), max_epochs=10)
    callback = WeightAveraging(n_epochs=3)
    # Stopped after epoch 6: no epoch was averaged, the weights stay.
    run_epochs(callback, net, [{}] * 6, lambda e: net.module_.mark(float(e)))
    callback.on_train_end(net)
    assert callback.n_averaged_ == 0
    assert net.module_.value == 6.0


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_raise_on_divergence_stops_at_a_non_finite_loss(loss):
    net = fake_net(lr=0.5)
    callback = RaiseOnDivergence(reference_loss=0.7)
    with pytest.raises(TrainingDivergedError, match=rf"became {loss}.*epoch 3.*lr=0.5"):
        run_epochs(callback, net, losses(0.6, 0.5, loss))
    assert issubclass(TrainingDivergedError, FloatingPointError)


def one_step_epochs(*values):
    return [{"train_loss": value, "train_batch_count": 1} for value in values]


def test_raise_on_divergence_judges_the_final_loss_against_the_reference():
    callback = RaiseOnDivergence(reference_loss=0.5)
    limit = DIVERGENCE_FACTOR * 0.5
    net = fake_net(lr=1.0)
    # Large finite losses during training are not an error by themselves...
    assert run_epochs(callback, net, one_step_epochs(100.0, limit)) is None
    # ...and a final loss at the limit is accepted,
    callback.on_train_end(net)
    # but one above it is not.
    net = fake_net(lr=1.0)
    run_epochs(callback, net, one_step_epochs(0.1, limit * 1.01))
    with pytest.raises(TrainingDivergedError, match=r"ended at 5\.05.*epoch 2"):
        callback.on_train_end(net)


def test_raise_on_divergence_does_not_judge_a_single_step():
    # One epoch of one batch records only the loss before that step: the
    # starting network's, which is no sign of divergence.
    callback = RaiseOnDivergence(reference_loss=0.5)
    net = fake_net(lr=1.0)
    run_epochs(callback, net, one_step_epochs(100.0))
    callback.on_train_end(net)
    # Two steps, in one epoch or in two, are judged.
    for records in (
        one_step_epochs(0.1, 100.0),
        [{"train_loss": 100.0, "train_batch_count": 2}],
    ):
        net = fake_net(lr=1.0)
        run_epochs(callback, net, records)
        with pytest.raises(TrainingDivergedError, match=r"ended at 100"):
            callback.on_train_end(net)


def test_raise_on_divergence_counts_only_this_calls_steps():
    # partial_fit appends to the history: a later call of one step is not
    # judged by the steps of the calls before it.
    callback = RaiseOnDivergence(reference_loss=0.5)
    net = fake_net(lr=1.0)
    run_epochs(callback, net, one_step_epochs(0.3, 0.2))
    callback.on_train_end(net)
    callback.on_train_begin(net)
    net.history.new_epoch()
    net.history.record("train_loss", 100.0)
    net.history.record("train_batch_count", 1)
    callback.on_train_end(net)


def test_a_one_step_fit_on_wide_encoded_inputs_is_not_called_divergent():
    # Hypothesis found this in CI: quantile encoding of two rows puts the
    # inputs at +-5.2, the untrained network's squared error was 10.3 times
    # the reference, and a fit of one step (the only loss recorded is the
    # one before it) raised TrainingDivergedError.
    from skhyper import HyperNetworkRegressor

    X = pd.DataFrame(
        {"c0": [-1.0, 0.0], "c1": [1.0, 0.0], "c2": [0.0, 0.0], "ctx": ["a", "aa"]}
    )
    model = HyperNetworkRegressor(
        context_column="ctx",
        numeric_encoding="quantile",
        max_epochs=1,
        batch_size=32,
        random_state=0,
        hidden_size=8,
        hyper_hidden_size=4,
        output_size=8,
    )
    model.fit(X, [0.0, 1.0])
    assert model.history_["train_loss"].iloc[-1] > DIVERGENCE_FACTOR
    assert np.isfinite(model.predict(X)).all()


# -- divergence check and the partial-pooling penalty ------------------------


def test_a_large_pooling_penalty_is_not_taken_for_divergence():
    # 12 rows in 5 contexts: context_pooling's coefficient (300 / rows of
    # the context) is about 100, so Adam's first steps make the penalty
    # briefly 20-80 times the data loss. The data loss itself stays near
    # 0.6; the divergence check must judge that, not the penalised
    # objective (this fit raised TrainingDivergedError before).
    from skhyper import HyperNetworkClassifier

    # The data of scikit-learn's check_classifier_data_not_an_array.
    X = np.array(
        [[3, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 1]]
        + [[0, 3], [1, 0], [2, 0], [4, 4], [2, 3], [3, 2]]
    )
    y = np.array([1, 1, 1, 2, 2, 2] * 2)
    model = HyperNetworkClassifier(
        context_column=0,
        handle_unknown="learned",
        context_pooling=300.0,
        random_state=0,
    )
    model.fit(X, y)
    history = model.history_
    assert history["train_loss"].iloc[-1] > 10 * np.log(2)
    assert history["train_data_loss"].max() < 2 * np.log(2)
    assert (history["train_data_loss"] <= history["train_loss"] + 1e-6).all()


# -- batch_size="auto" -------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "device", "expected"),
    [
        (10, "cpu", 128),  # small tables keep 128-row steps
        (5_792, "cpu", 128),  # 181 rows a step rounds to 128 (log2: 7.5)
        (5_795, "cpu", 256),  # and just beyond, to 256
        (100_000, "cpu", 4096),  # a 32nd: 3,125 -> 4,096
        (1_000_000, "cpu", 4096),  # capped on a CPU
        (1_000_000, "cuda", 16384),  # a GPU takes up to 16,384
        (100_000_000, "cuda:1", 16384),
    ],
)
def test_auto_batch_size_follows_the_documented_rule(rows, device, expected):
    from skhyper._base import auto_batch_size

    assert auto_batch_size(rows, torch.device(device).type) == expected


def test_auto_batch_size_is_chosen_for_the_device_that_trains():
    # With an accelerator, the processes' device trains, whatever `device`
    # (where the fitted model goes) says: a GPU fit was capped at 4,096.
    from skhyper import HyperNetworkClassifier

    model = HyperNetworkClassifier()
    assert model._batch_size(1_000_000) == 4096
    assert model._batch_size(1_000_000, "cuda:0") == 16384
    assert model.set_params(batch_size=64)._batch_size(1_000_000, "cuda:0") == 64


def test_valid_loss_is_the_weighted_mean_over_batches_of_unequal_weight():
    """skorch averages the batches' losses by their sizes; in validation
    the recorded size is the batch's weight, so that ``valid_loss`` (what
    early stopping compares) is the split's weighted mean loss, not a mean
    of batch means (0.9043 for 0.9029 on 84,000 rows)."""
    from skorch.callbacks import PassthroughScoring

    from skhyper import HyperNetworkClassifier
    from skhyper._distributed import predict_rows

    X, y = make_context_frame(n=300, seed=0)
    model = HyperNetworkClassifier("ctx", hidden_size=8, max_epochs=2)
    model.fit(X, y)
    weight = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    weight[:20] = 20.0  # the first batches weigh far more than the rest
    codes = np.searchsorted(model.classes_, y)
    valid = TensorTable(model.encoder_.transform(X), codes, weight)
    net = model.net_
    net.history.new_epoch()
    net.run_single_epoch(TensorBatches(valid, 7), False, "valid", net.validation_step)
    recorded = PassthroughScoring("valid_loss").get_avg_score(net.history)
    with torch.no_grad():
        whole = net.get_loss(
            predict_rows(net, valid).float(), (valid.target, valid.weight)
        )
    assert recorded == pytest.approx(float(whole), rel=1e-5)
