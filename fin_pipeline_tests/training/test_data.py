"""Loaders over zero-copy windows: coverage, seeded shuffles, normalization from training only, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from fin_pipeline.training import (
    TensorBatchLoader,
    TimeSeriesDataset,
    WalkForwardValidator,
    compute_normalization_stats,
    create_data_loaders,
    create_walk_forward_loaders,
    prepare_data,
)
from fin_pipeline.training import data as data_module

T, F = 5, 4  # window length and features: small, fast


def windows(rows: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (rows, F) base array, its read-only overlapping sliding-window view (N, T, F), and targets (N,)."""
    rng = np.random.default_rng(seed)
    base = (rng.standard_normal((rows, F)) * [1, 10, 100, 0.1] + [0, 5, -50, 1e3]).astype(np.float32)
    X = np.lib.stride_tricks.sliding_window_view(base, T, axis=0).transpose(0, 2, 1)
    y = rng.standard_normal(len(X)).astype(np.float32)
    return base, X, y


def collect(loader) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys), [len(x) for x in xs]


def test_prepare_data_builds_zero_copy_windows():
    base, X_ref, _ = windows(30)
    targets = np.arange(30, dtype=np.float64)
    X, y = prepare_data(base, targets, window_size=T)
    assert X.shape == (26, T, F) and np.shares_memory(X, base) and not X.flags.writeable
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, targets[T - 1 :].astype(np.float32))  # target of each window's last row
    Xl, yl = prepare_data([X[0], X[1]], [[1.0], [2.0]])  # the original API's list of windows
    assert Xl.shape == (2, T, F) and yl.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="X has 26 windows but y has 3 targets"):
        prepare_data(X, [1, 2, 3])
    with pytest.raises(ValueError, match="X has 4 features per row, expected 40"):
        prepare_data(X, np.zeros(26), n_features=40)


def test_loader_shares_memory_gathers_batches_and_keeps_last_partial_batch():
    base, X, y = windows(107)  # 103 windows
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-writable array" warning leaks out
        loader = TensorBatchLoader(X, y, batch_size=10)
    assert np.shares_memory(loader.X.numpy(), base)  # wrapped, not copied
    assert loader.X.stride() == (F, F, 1)  # still the overlapping strided view
    xs, ys, sizes = collect(loader)
    assert len(loader) == 11 and sizes == [10] * 10 + [3]
    np.testing.assert_array_equal(xs.numpy(), X)
    np.testing.assert_array_equal(ys.numpy().ravel(), y)
    assert xs.dtype == torch.float32 and ys.shape == (103, 1)
    np.testing.assert_array_equal(base, windows(107)[0])  # in-place normalization never touches the source


def test_moving_to_a_device_copies_the_base_array_not_the_windows():
    base, X, _ = windows(50)
    # The meta device stands in for CUDA: same code path, no data. 46 windows of 5 rows cost 50 rows, not 230.
    t = data_module.to_device(data_module.as_tensor(X[3:]), torch.device("meta"))
    assert t.device.type == "meta" and t.shape == X[3:].shape and t.stride() == (F, F, 1)
    assert t.untyped_storage().nbytes() == base[3:].nbytes


@pytest.mark.parametrize("drop_last", [False, True])
def test_shuffled_epochs_cover_every_index_once(drop_last):
    _, X, y = windows(107)
    ids = np.arange(len(X), dtype=np.float32)  # targets = window index, to read the order back
    loader = TensorBatchLoader(X, ids, batch_size=10, shuffle=True, seed=3, drop_last=drop_last)
    orders = []
    for _ in range(2):
        _, ys, sizes = collect(loader)
        order = ys.ravel().long().numpy()
        orders.append(order)
        if drop_last:
            assert sizes == [10] * 10 and len(set(order)) == 100
        else:
            assert sizes[-1] == 3 and sorted(order) == list(range(103))
    assert not np.array_equal(orders[0], orders[1])  # a new order each epoch


def test_seeded_shuffle_is_reproducible_and_resumable():
    _, X, y = windows(60)
    ids = np.arange(len(X), dtype=np.float32)

    def epoch_order(loader):
        return collect(loader)[1].ravel().tolist()

    a, b = (TensorBatchLoader(X, ids, 8, shuffle=True, seed=7) for _ in range(2))
    assert epoch_order(a) == epoch_order(b)
    assert epoch_order(TensorBatchLoader(X, ids, 8, shuffle=True, seed=8)) != epoch_order(a)
    state = a.state_dict()
    expected = epoch_order(a)
    c = TensorBatchLoader(X, ids, 8, shuffle=True, seed=0)
    c.load_state_dict(state)
    assert epoch_order(c) == expected


def test_indices_select_windows_without_copy():
    base, X, y = windows(50)
    picked = np.array([3, 4, 10, 40])
    loader = TensorBatchLoader(X, y, 3, indices=picked)
    xs, _, sizes = collect(loader)
    assert sizes == [3, 1] and np.shares_memory(loader.X.numpy(), base)
    np.testing.assert_array_equal(xs.numpy(), X[picked])
    mask = np.zeros(len(X), dtype=bool)
    mask[picked] = True
    assert TensorBatchLoader(X, y, 3, indices=mask).num_samples == 4
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 46\)"):
        TensorBatchLoader(X, y, 3, indices=[0, 46])


def test_create_data_loaders_normalizes_with_training_part_only():
    base, X, y = windows(105)  # 101 windows -> 81 train, 20 validation
    train, val = create_data_loaders(X, y, batch_size=16, validation_split=0.2, seed=1)
    assert (train.num_samples, val.num_samples) == (81, 20)
    assert np.shares_memory(train.X.numpy(), base) and train.X is val.X
    expected_mean = X[:81].mean(axis=(0, 1), dtype=np.float64)
    expected_std = X[:81].std(axis=(0, 1), dtype=np.float64)
    np.testing.assert_allclose(train.stats.mean, expected_mean, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(train.stats.std, expected_std, rtol=1e-5)
    assert val.stats is train.stats
    # The validation windows, in order, normalized with the training statistics; nothing dropped.
    xs, ys, sizes = collect(val)
    assert sizes == [16, 4]
    # atol: feature 3 is ~1000 +- 0.1, and float32 resolves 1000 to 6e-5, i.e. 6e-4 standard deviations
    np.testing.assert_allclose(xs.numpy(), (X[81:] - expected_mean) / expected_std, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(ys.numpy().ravel(), y[81:])
    # Validation values that change leave the statistics alone: they came from the training part only.
    base2 = base.copy()
    base2[90:] *= 1000
    X2 = np.lib.stride_tricks.sliding_window_view(base2, T, axis=0).transpose(0, 2, 1)
    np.testing.assert_array_equal(create_data_loaders(X2, y)[0].stats.mean, train.stats.mean)
    # Training batches are a shuffled temporal prefix: indices 0..80 only.
    ids = np.arange(len(X), dtype=np.float32)
    tr, _ = create_data_loaders(X, ids, batch_size=16, normalize=False)
    assert sorted(collect(tr)[1].ravel().long().tolist()) == list(range(81))
    assert tr.stats is None and tr.mean is None


def test_statistics_in_chunks_match_numpy_and_floor_constant_features(monkeypatch):
    rng = np.random.default_rng(1)
    base = (rng.standard_normal((300, F)) * 3 + 1e4).astype(np.float32)
    base[:, 2] = 7.0  # a constant feature
    X = np.lib.stride_tricks.sliding_window_view(base, T, axis=0).transpose(0, 2, 1)
    idx = np.arange(10, 250)
    monkeypatch.setattr(data_module, "CHUNK", 7)  # many uneven chunks
    stats = compute_normalization_stats(X, idx)
    sel = X[idx].astype(np.float64)
    np.testing.assert_allclose(stats.mean, sel.mean(axis=(0, 1)), rtol=1e-7)
    expected_std = sel.std(axis=(0, 1))
    expected_std[2] = 1.0  # constant: std taken as 1, values only centred
    np.testing.assert_allclose(stats.std, expected_std, rtol=1e-5)
    assert stats.count == len(idx) * T
    xb, _ = next(iter(TensorBatchLoader(X, np.zeros(len(X), np.float32), 4, indices=idx, stats=stats)))
    assert torch.isfinite(xb).all() and torch.all(xb[:, :, 2] == 0)


def test_walk_forward_loaders_fit_a_fresh_normalization_per_fold():
    _, X, y = windows(130)  # 126 windows
    validator = WalkForwardValidator(len(X), validation_size=20, num_steps=3, purge=1)
    folds = create_walk_forward_loaders(X, y, validator, batch_size=32)
    assert len(folds) == 3
    for fold, (train_idx, val_idx) in zip(folds, validator.get_splits(), strict=True):
        assert fold.train.num_samples == len(train_idx) and fold.val.num_samples == len(val_idx)
        np.testing.assert_allclose(fold.stats.mean, X[train_idx].mean(axis=(0, 1), dtype=np.float64), rtol=1e-5)
        assert fold.val.stats is fold.stats and fold.train.X is folds[0].train.X
        assert sorted(collect(fold.val)[1].ravel().tolist()) == sorted(y[val_idx].tolist())
    assert not np.array_equal(folds[0].stats.mean, folds[2].stats.mean)
    pairs = [(np.arange(0, 50), np.arange(52, 60))]  # explicit (train_idx, val_idx), e.g. from date folds
    (fold,) = create_walk_forward_loaders(X, y, pairs, normalize=False)
    assert (fold.train.num_samples, fold.val.num_samples, fold.stats) == (50, 8, None)
    seed_style = create_walk_forward_loaders(X, y, validation_fraction=0.1, num_steps=2)
    assert [f.val.num_samples for f in seed_style] == [12, 12]
    with pytest.raises(ValueError, match="fold 0 is empty: 0 training and 8 validation"):
        create_walk_forward_loaders(X, y, [(np.array([], dtype=int), np.arange(8))])


def test_time_series_dataset_is_the_original_api_and_matches_the_fast_loader():
    _, X, y = windows(40)
    ds = TimeSeriesDataset(X, y, normalize=True)
    assert len(ds) == 36 and ds.mean.shape == (F,)
    x0, y0 = ds[0]
    assert x0.shape == (T, F) and y0.shape == (1,)
    slow = torch.cat([xb for xb, _ in DataLoader(ds, batch_size=8)])
    fast = collect(TensorBatchLoader(X, y, 8, mean=ds.mean, std=ds.std))[0]
    torch.testing.assert_close(slow, fast)
    seed_shapes = TimeSeriesDataset(X, y, mean=np.zeros((1, 1, F)), std=np.ones((1, 1, F)))
    torch.testing.assert_close(seed_shapes[3][0], torch.from_numpy(X[3].copy()))
    raw = TimeSeriesDataset(X, y, normalize=False)
    assert raw.mean is None


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "message"),
    [
        (np.zeros((10, T, F), np.float32), np.zeros(9, np.float32), {}, "X has 10 windows but y has 9 targets"),
        (np.zeros((10, F), np.float32), np.zeros(10, np.float32), {}, r"X must be windows of shape \(N, seq_len"),
        (np.zeros((10, T, F), np.float32), np.zeros((10, 2), np.float32), {}, r"y must be targets of shape"),
        (np.zeros((10, T, F), np.float32), np.zeros(10, np.float32), {"n_features": 40}, "expected 40"),
        (np.zeros((10, T, F), np.float32), np.zeros(10, np.float32), {"batch_size": 0}, "batch_size must be"),
        (np.zeros((10, T, F), np.float32), np.zeros(10, np.float32), {"validation_split": 1.0}, "no training data"),
        (np.zeros((10, T, F), np.float32), np.zeros(10, np.float32), {"validation_split": -0.1}, r"in \[0, 1\)"),
        (np.zeros((10, T, F), np.float32), np.zeros(10, np.float32), {"indices": []}, "no training data"),
        (np.zeros((3, T, F), np.float32), np.zeros(3, np.float32), {"validation_split": 0.2}, "no validation data"),
        (np.zeros((10, T, F), np.float32), np.zeros(10, np.float32), {"indices": [3, 1, 2]}, "strictly increasing"),
    ],
)
def test_bad_input_is_a_clear_error(X, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_data_loaders(X, y, **kwargs)


def test_nan_in_selected_windows_or_targets_is_an_error():
    base, _, y = windows(60)
    base = base.copy()
    base[50, 1] = np.nan  # inside windows 46..50, all in the validation part (47 train windows)
    X = np.lib.stride_tricks.sliding_window_view(base, T, axis=0).transpose(0, 2, 1)
    with pytest.raises(ValueError, match="features X contain NaN or infinite values in window 46"):
        create_data_loaders(X, y, validation_split=0.2)
    train, _ = create_data_loaders(X, y, validation_split=0.2, indices=np.arange(46))  # NaN windows not selected
    assert train.num_samples == 37
    base[10, 0] = np.inf  # now in the training part too
    with pytest.raises(ValueError, match="training data: features X contain NaN or infinite values in window 6"):
        create_data_loaders(X, y)
    _, X, y = windows(60)
    y = y.copy()
    y[5] = np.nan
    with pytest.raises(ValueError, match="target y is NaN or infinite at window 5"):
        create_data_loaders(X, y)
    with pytest.raises(ValueError, match="target y is NaN or infinite at window 5"):
        TensorBatchLoader(X, y)
