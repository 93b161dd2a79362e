"""Shapes, default parameter counts, spec round trips, config errors and one backward step for every model."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from fin_pipeline.models import (
    MODEL_NAMES,
    AttentionConfig,
    CNNConfig,
    EnsembleConfig,
    EnsembleModel,
    LSTMConfig,
    LSTMModel,
    create_model,
    model_from_spec,
    model_spec,
)

# The original sizes; the ensemble is the sum of its three members (plus 3 mixing logits).
TARGET_PARAMS = {"lstm": 602_000, "cnn": 130_000, "attention": 410_000}
TARGET_PARAMS["ensemble"] = sum(TARGET_PARAMS.values())
CONFIGS = {"lstm": LSTMConfig, "cnn": CNNConfig, "attention": AttentionConfig, "ensemble": EnsembleConfig}


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: create_model(name) for name in MODEL_NAMES}


def test_names():
    assert MODEL_NAMES == ("lstm", "cnn", "attention", "ensemble")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_default_parameter_count(models, name):
    count = trainable(models[name])
    assert abs(count - TARGET_PARAMS[name]) <= 0.05 * TARGET_PARAMS[name], count


def test_ensemble_is_its_members_plus_weights(models):
    members = sum(trainable(models[name]) for name in ("lstm", "cnn", "attention"))
    highway = 40 + 1  # one Linear(40, 1) per model: the members' are off inside the ensemble, its own is on
    assert trainable(models["ensemble"]) == members - 3 * highway + highway + 3
    assert abs(trainable(models["ensemble"]) - 1_100_000) <= 0.05 * 1_100_000


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("batch", [1, 7])
def test_output_shape(models, name, batch):
    model = models[name].eval()
    with torch.no_grad():
        assert model(torch.randn(batch, 30, 40)).shape == (batch, 1)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_quantile_outputs_and_small_config(name):
    model = create_model(name, output_size=3, n_features=5, seq_len=12)
    assert model(torch.randn(4, 12, 5)).shape == (4, 3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_one_backward_step(models, name):
    torch.manual_seed(1)
    model = models[name].train()
    out = model(torch.randn(7, 30, 40))
    ((out - torch.randn(7, 1)) ** 2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_spec_round_trip_through_a_checkpoint(name):
    torch.manual_seed(2)
    kw = {"output_size": 2, "n_features": 6, "seq_len": 10}
    if name == "ensemble":
        kw["lstm"] = {"hidden_size": 8, "num_layers": 1}
    model = create_model(name, **kw).eval()
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "model_spec": model_spec(model)}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    rebuilt = model_from_spec(ckpt["model_spec"]).eval()
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    rebuilt.load_state_dict(ckpt["model"], strict=True)
    x = torch.randn(3, 10, 6)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_spec_is_plain_data(models):
    spec = model_spec(models["ensemble"])
    assert spec["name"] == "ensemble"
    assert spec["config"]["lstm"] == {} and spec["config"]["output_size"] == 1
    assert spec["config"]["cnn"] == {"readout": "mean_last"}
    assert model_spec(models["cnn"])["config"] == dataclasses.asdict(CNNConfig())


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_deterministic_init(name):
    states = []
    for _ in range(2):
        torch.manual_seed(3)
        states.append(create_model(name, n_features=4, seq_len=6).state_dict())
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key


def test_create_model_is_case_insensitive_and_direct_construction():
    assert isinstance(create_model("LSTM", hidden_size=8), LSTMModel)
    assert LSTMModel(hidden_size=8).config == LSTMConfig(hidden_size=8)
    assert LSTMModel(LSTMConfig(num_layers=1)).config.num_layers == 1
    assert isinstance(create_model("Ensemble", cnn={"channels": (8,), "dilations": (1,)}), EnsembleModel)


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'gru'") as err:
        create_model("gru")
    assert all(name in str(err.value) for name in MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_config_key_names_key_and_fields(name):
    with pytest.raises(ValueError, match="hidden_sise") as err:
        create_model(name, hidden_sise=3)
    for field in dataclasses.fields(CONFIGS[name]):
        assert field.name in str(err.value)


@pytest.mark.parametrize(
    "name, kw, match",
    [
        ("lstm", {"hidden_size": 0}, "hidden_size"),
        ("lstm", {"dropout": 1.0}, "dropout"),
        ("lstm", {"dropout": -0.1}, "dropout"),
        ("lstm", {"num_layers": 2.0}, "num_layers"),
        ("cnn", {"channels": (8, 8), "dilations": (1,)}, "dilations"),
        ("cnn", {"kernel_size": 4}, "kernel_size"),
        ("cnn", {"channels": ()}, "channels"),
        ("cnn", {"readout": "last"}, "readout"),
        ("attention", {"readout": "max"}, "readout"),
        ("attention", {"d_model": 30, "num_heads": 8}, "divisible"),
        ("attention", {"positional_encoding": "rotary"}, "positional_encoding"),
        ("attention", {"n_features": 0}, "n_features"),
        ("ensemble", {"output_size": True}, "output_size"),
        ("ensemble", {"lstm": {"hidden_size": -1}}, "hidden_size"),
        ("ensemble", {"cnn": {"n_features": 3}}, "on the ensemble"),
        ("ensemble", {"attention": {"nope": 1}}, "nope"),
    ],
)
def test_invalid_config_values(name, kw, match):
    with pytest.raises(ValueError, match=match):
        create_model(name, **kw)


def test_bad_spec():
    with pytest.raises(ValueError, match="name"):
        model_from_spec({"config": {}})
    with pytest.raises(TypeError):
        model_spec(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("shape", [(30, 40), (2, 30, 39), (2, 29, 40), (2, 1, 30, 40)])
def test_wrong_input_shape(models, name, shape):
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 30, 40\), got"):
        models[name](torch.randn(*shape))


def test_sinusoidal_attention_has_fewer_parameters():
    learned = trainable(create_model("attention"))
    fixed = create_model("attention", positional_encoding="sinusoidal")
    assert trainable(fixed) == learned - 30 * 128
    assert fixed(torch.randn(2, 30, 40)).shape == (2, 1)


@pytest.mark.parametrize("readout", ["mean_last", "mean_max"])
def test_cnn_readout_feeds_the_head_the_mean_and_the_last_day_or_the_max(readout):
    torch.manual_seed(5)
    model = create_model("cnn", readout=readout, n_features=5, seq_len=12, channels=(6, 7), dilations=(1, 2)).eval()
    x = torch.randn(4, 12, 5)
    with torch.no_grad():
        h = model.convs(x.transpose(1, 2)).numpy()  # (B, C, T)
        second = h[:, :, -1] if readout == "mean_last" else h.max(axis=2)
        by_hand = np.concatenate([h.sum(axis=2) / h.shape[2], second], axis=1)
        expected = model.head(torch.from_numpy(by_hand)) + model.highway(x[:, -1, :])
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-6)


def test_a_spec_stored_before_the_cnn_readout_existed_rebuilds_the_mean_max_network():
    """A checkpoint's spec that lacks ``readout`` was trained with mean+max pooling: it must rebuild as that, not as
    the new default, whose weights have the same shapes and would load silently."""
    kw = {"n_features": 6, "seq_len": 10}
    old_cnn = {k: v for k, v in model_spec(create_model("cnn", **kw))["config"].items() if k != "readout"}
    assert model_from_spec({"name": "cnn", "config": old_cnn}).config.readout == "mean_max"
    old_ensemble = model_spec(create_model("ensemble", lstm={"hidden_size": 8}, **kw))["config"]
    assert old_ensemble["cnn"] == {"readout": "mean_last"}  # written out, so that a new spec names its variant
    old_ensemble["cnn"] = {}
    rebuilt = model_from_spec({"name": "ensemble", "config": old_ensemble})
    assert rebuilt.members["cnn"].config.readout == "mean_max"
    assert create_model("cnn").config.readout == "mean_last"
    assert create_model("ensemble").members["cnn"].config.readout == "mean_last"


def test_attention_readout_reads_the_last_day_or_the_mean_of_the_encoder_outputs():
    torch.manual_seed(6)
    kw = {"n_features": 5, "seq_len": 9, "d_model": 16, "num_heads": 2, "num_layers": 1, "highway": False}
    for readout in ("mean", "last"):
        model = create_model("attention", readout=readout, **kw).eval()
        x = torch.randn(3, 9, 5)
        with torch.no_grad():
            h = model.norm(model.encoder(model.input_proj(x) + model.position)).numpy()  # (B, T, D)
            read = h[:, -1] if readout == "last" else h.sum(axis=1) / h.shape[1]
            torch.testing.assert_close(model(x), model.head(torch.from_numpy(read)), rtol=1e-5, atol=1e-6)
    old = dict(model_spec(create_model("attention", readout="last", **kw))["config"])
    del old["readout"]
    assert model_from_spec({"name": "attention", "config": old}).config.readout == "mean"
