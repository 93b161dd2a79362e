"""FIN_PIPELINE_MODELS: the board's models, checked when the settings load."""

import pytest

from fin_pipeline.core.choices import BOARD_MODELS
from fin_pipeline.core.settings import Settings, SettingsError
from fin_pipeline.evaluation.board import enabled_models


def test_the_models_setting_is_read_and_its_default_is_the_configured_network_and_the_baselines():
    assert Settings.from_env({}).models is None
    assert Settings.from_env({"FIN_PIPELINE_MODELS": " CNN, ridge ,lightgbm"}).models == ("cnn", "ridge", "lightgbm")
    assert enabled_models(None, "cnn") == ("cnn", "ridge", "lightgbm", "momentum")
    assert enabled_models(None, "attention") == ("attention", "ridge", "lightgbm", "momentum")
    assert enabled_models(("ridge",), "cnn") == ("ridge",)


@pytest.mark.parametrize(
    ("value", "said"),
    [("lstm,xgboost", r"unknown \['xgboost'\]"), ("ridge,ridge", "a model listed twice"), (",", "empty")],
)
def test_a_bad_models_setting_names_the_setting_and_the_known_models(value, said):
    with pytest.raises(SettingsError, match=said) as caught:
        Settings.from_env({"FIN_PIPELINE_MODELS": value})
    message = str(caught.value)
    assert "FIN_PIPELINE_MODELS" in message
    assert all(name in message for name in BOARD_MODELS)
