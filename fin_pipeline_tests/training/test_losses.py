"""Each loss against values worked out by hand (plain Python), its float64 gradient, the factory and presets."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch

from fin_pipeline.training.losses import (
    LOSS_NAMES,
    LOSS_PRESETS,
    CombinedLoss,
    DirectionalAccuracyLoss,
    HuberLoss,
    ICLoss,
    MAELoss,
    MSELoss,
    QuantileLoss,
    ReturnVolatilityLoss,
    SharpeRatioLoss,
    create_loss_function,
)

P = [0.5, -1.2, 2.0, 0.3]
Y = [1.0, -0.5, -0.4, 2.5]


def t(values, shape=None) -> torch.Tensor:
    x = torch.tensor(values, dtype=torch.float64)
    return x.reshape(shape) if shape else x


def value(loss, p=P, y=Y, p_shape=None, y_shape=None) -> float:
    return loss(t(p, p_shape), t(y, y_shape)).item()


def pop_std(xs) -> float:
    return statistics.pstdev(xs)


def test_mse_mae_by_hand():
    errors = [p - y for p, y in zip(P, Y, strict=True)]  # -0.5, -0.7, 2.4, -2.2
    assert value(MSELoss()) == pytest.approx(sum(e * e for e in errors) / 4)
    assert value(MSELoss()) == pytest.approx((0.25 + 0.49 + 5.76 + 4.84) / 4)
    assert value(MAELoss()) == pytest.approx((0.5 + 0.7 + 2.4 + 2.2) / 4)


@pytest.mark.parametrize("p_shape, y_shape", [(None, None), ((4, 1), (4, 1)), ((4, 1), None), (None, (4, 1))])
def test_column_and_flat_shapes_agree(p_shape, y_shape):
    assert value(MSELoss(), p_shape=p_shape, y_shape=y_shape) == pytest.approx(value(MSELoss()))
    assert value(SharpeRatioLoss(), p_shape=p_shape, y_shape=y_shape) == pytest.approx(value(SharpeRatioLoss()))


@pytest.mark.parametrize("delta", [1.0, 0.6, 3.0])
def test_huber_by_hand(delta):
    def h(e):
        return 0.5 * e * e if abs(e) <= delta else delta * (abs(e) - 0.5 * delta)

    expected = sum(h(p - y) for p, y in zip(P, Y, strict=True)) / 4
    assert value(HuberLoss(delta=delta)) == pytest.approx(expected)
    if delta == 1.0:  # errors -0.5, -0.7 quadratic; 2.4, -2.2 linear
        assert expected == pytest.approx((0.125 + 0.245 + 1.9 + 1.7) / 4)


def test_sharpe_by_hand():
    r = [math.tanh(p) * y for p, y in zip(P, Y, strict=True)]
    expected = -(sum(r) / 4) / (pop_std(r) + 1e-8)
    assert value(SharpeRatioLoss()) == pytest.approx(expected)
    # a strategy that is always right has a negative (good) loss
    assert value(SharpeRatioLoss(), p=[1.0, -1.0, 2.0], y=[0.5, -0.2, 0.1]) < 0


def test_sharpe_constant_returns_have_finite_gradient():
    p = t([1.0, 1.0, 1.0]).requires_grad_()
    loss = SharpeRatioLoss()(p, t([0.0, 0.0, 0.0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(p.grad).all()


def test_quantile_is_the_standard_pinball_loss():
    loss = QuantileLoss(quantiles=(0.9,))
    assert value(loss, p=[0.0], y=[1.0]) == pytest.approx(0.9)  # y - p = +1: under-prediction costs q
    assert value(loss, p=[1.0], y=[0.0]) == pytest.approx(0.1)  # y - p = -1: over-prediction costs 1 - q
    assert value(QuantileLoss(quantiles=(0.5,))) == pytest.approx(0.5 * value(MAELoss()))


def test_multi_quantile_by_hand():
    qs = (0.1, 0.5, 0.9)
    p = [[0.0, 0.5, 1.0], [-1.0, 0.2, 0.3]]
    y = [0.4, -0.5]

    def pinball(q, e):
        return max(q * e, (q - 1) * e)

    expected = sum(pinball(q, y[i] - p[i][j]) for i in range(2) for j, q in enumerate(qs)) / 6
    assert value(QuantileLoss(qs), p=p, y=y) == pytest.approx(expected)
    assert value(QuantileLoss(qs), p=p, y=y, y_shape=(2, 1)) == pytest.approx(expected)


def test_quantile_shape_errors():
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        QuantileLoss()(t([0.1, 0.2]), t([0.1, 0.2]))
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        QuantileLoss()(t([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], (3, 2)), t([0.1, 0.2]))
    with pytest.raises(ValueError, match="quantiles"):
        QuantileLoss(quantiles=(0.5, 1.0))
    with pytest.raises(ValueError, match="quantiles"):
        QuantileLoss(quantiles=())


def test_directional_by_hand():
    mse = sum((p - y) ** 2 for p, y in zip(P, Y, strict=True)) / 4
    penalty = sum(max(0.0, -p * y) for p, y in zip(P, Y, strict=True)) / 4  # 0, 0, 0.8, 0
    assert penalty == pytest.approx(0.2)
    assert value(DirectionalAccuracyLoss(weight=2.5)) == pytest.approx(mse + 2.5 * penalty)
    assert value(DirectionalAccuracyLoss(weight=0.0)) == pytest.approx(mse)
    # same signs: exactly the MSE; a larger disagreement costs more
    assert value(DirectionalAccuracyLoss(weight=1.0), p=[0.5, -0.5], y=[1.0, -2.0]) == pytest.approx((0.25 + 2.25) / 2)
    small = value(DirectionalAccuracyLoss(weight=1.0), p=[-0.1], y=[0.1]) - 0.04
    large = value(DirectionalAccuracyLoss(weight=1.0), p=[-0.5], y=[0.5]) - 1.0
    assert 0 < small < large


def test_return_volatility_by_hand():
    r = [math.tanh(p) * y for p, y in zip(P, Y, strict=True)]
    assert value(ReturnVolatilityLoss(vol_weight=0.7)) == pytest.approx(-sum(r) / 4 + 0.7 * pop_std(r))


def test_combined_by_hand_and_validation():
    loss = CombinedLoss(losses={"mse": MSELoss(), "mae": MAELoss()}, weights={"mse": 2.0, "mae": -0.5})
    assert value(loss) == pytest.approx(2.0 * value(MSELoss()) - 0.5 * value(MAELoss()))
    assert value(CombinedLoss(losses={"mse": MSELoss()})) == pytest.approx(value(MSELoss()))
    with pytest.raises(ValueError, match="must match"):
        CombinedLoss(losses={"mse": MSELoss()}, weights={"mae": 1.0})
    with pytest.raises(ValueError, match="finite"):
        CombinedLoss(losses={"mse": MSELoss()}, weights={"mse": math.nan})
    with pytest.raises(ValueError, match="at least one"):
        CombinedLoss(losses={})


@pytest.mark.parametrize("loss", [MSELoss(), MAELoss(), HuberLoss(), DirectionalAccuracyLoss(), SharpeRatioLoss()])
def test_element_count_mismatch(loss):
    with pytest.raises(ValueError, match="element count"):
        loss(t([0.1, 0.2, 0.3]), t([0.1, 0.2]))


@pytest.mark.parametrize(
    "make, kwargs",
    [
        (HuberLoss, {"delta": 0.0}),
        (HuberLoss, {"delta": math.inf}),
        (DirectionalAccuracyLoss, {"weight": -1.0}),
        (ReturnVolatilityLoss, {"vol_weight": math.nan}),
        (SharpeRatioLoss, {"eps": -1.0}),
    ],
)
def test_bad_parameters(make, kwargs):
    with pytest.raises(ValueError):
        make(**kwargs)


# Inputs away from kinks: no p == y (MAE), no |p - y| == delta (Huber), no p * y == 0 (directional).
GRAD_LOSSES = {
    "mse": MSELoss(),
    "mae": MAELoss(),
    "huber": HuberLoss(delta=1.0),
    "sharpe": SharpeRatioLoss(),
    "quantile_one": QuantileLoss(quantiles=(0.3,)),
    "directional": DirectionalAccuracyLoss(weight=1.5),
    "return_volatility": ReturnVolatilityLoss(vol_weight=0.5),
    "combined": CombinedLoss({"huber": HuberLoss(), "sharpe": SharpeRatioLoss()}, {"huber": 1.0, "sharpe": 0.3}),
}


@pytest.mark.parametrize("name", GRAD_LOSSES)
def test_gradcheck(name):
    loss = GRAD_LOSSES[name]
    p = t(P, (4, 1)).requires_grad_()
    y = t(Y, (4, 1)).requires_grad_()
    assert torch.autograd.gradcheck(loss, (p, y))


def test_gradcheck_multi_quantile():
    p = t([[0.0, 0.5, 1.0], [-1.0, 0.2, 0.3]]).requires_grad_()
    y = t([0.4, -0.5]).requires_grad_()
    assert torch.autograd.gradcheck(QuantileLoss((0.1, 0.5, 0.9)), (p, y))


@pytest.mark.parametrize("name", [n for n in LOSS_NAMES if n != "combined"] + list(LOSS_PRESETS))
def test_factory_builds_every_name(name):
    loss = create_loss_function(name.upper())
    p = t(P, (4, 1))
    if isinstance(loss, QuantileLoss) and len(loss.quantiles) > 1:
        p = p.repeat(1, len(loss.quantiles))
    assert torch.isfinite(loss(p, t(Y)))


def test_factory_kwargs_and_combined():
    assert create_loss_function("huber", delta=0.5).delta == 0.5
    loss = create_loss_function("combined", losses={"mse": MSELoss()}, weights={"mse": 3.0})
    assert value(loss) == pytest.approx(3.0 * value(MSELoss()))
    with pytest.raises(TypeError, match="bogus"):
        create_loss_function("mse", bogus=1)
    with pytest.raises(ValueError, match="no arguments"):
        create_loss_function("robust", weights={})


def test_presets():
    assert len(LOSS_PRESETS) >= 5
    assert not set(LOSS_PRESETS) & set(LOSS_NAMES)
    robust = create_loss_function("robust")
    assert isinstance(robust, CombinedLoss) and set(robust.losses) == {"huber", "mae"}
    assert set(create_loss_function("trading").losses) == {"mse", "directional"}
    assert set(create_loss_function("risk_adjusted").losses) == {"sharpe", "mse"}
    assert value(robust) == pytest.approx(0.5 * value(HuberLoss()) + 0.5 * value(MAELoss()))


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown loss 'nope'") as err:
        create_loss_function("nope")
    for name in (*LOSS_NAMES, *LOSS_PRESETS):
        assert name in str(err.value)


@pytest.mark.parametrize("name", ["mse", "sharpe", "quantile"])
def test_low_precision_predictions_are_computed_in_float32(name):
    loss = create_loss_function(name)
    p = torch.tensor([[0.01, 0.02, 0.03], [-0.02, 0.0, 0.01]], dtype=torch.bfloat16)
    p = p if name == "quantile" else p[:, :1]
    out = loss(p, torch.tensor([0.011, -0.013]))
    assert out.dtype == torch.float32


def test_ic_loss_is_one_minus_the_pearson_correlation():
    mp, my = sum(P) / 4, sum(Y) / 4
    cov = sum((p - mp) * (y - my) for p, y in zip(P, Y, strict=True)) / 4
    expected = 1 - cov / (pop_std(P) * pop_std(Y))
    assert value(ICLoss()) == pytest.approx(expected, rel=1e-12)
    assert value(ICLoss()) == pytest.approx(1 - np.corrcoef(P, Y)[0, 1], rel=1e-12)  # a second method
    # blind to the prediction's scale and level; a perfect ranking costs 0, its mirror 2
    assert value(ICLoss(), p=[3 * v + 1 for v in P]) == pytest.approx(expected, rel=1e-12)
    assert value(ICLoss(), p=Y) == pytest.approx(0.0, abs=1e-12)
    assert value(ICLoss(), p=[-v for v in Y]) == pytest.approx(2.0, abs=1e-12)
    p = t(P).requires_grad_()
    assert torch.autograd.gradcheck(ICLoss(), (p, t(Y)))
