"""Forecasting models: windows ``(B, seq_len=30, n_features=40)`` -> ``(B, output_size=1)``; no dagster here.

``create_model(name, **config)`` builds one by name; ``model_spec(model)`` / ``model_from_spec(spec)`` round-trip
the architecture through a checkpoint as plain data (weights travel separately as the state dict).

==========  =================  ==========================================================================
name        default params     architecture
==========  =================  ==========================================================================
lstm          603,969          3 x LSTM(160), LayerNorm, MLP head on the last hidden state
cnn           129,889          4 dilated Conv1d blocks (BatchNorm, GELU), mean over days + last day, MLP head
attention     415,105          Linear -> d_model 128 + learned positions, 3 pre-norm encoder layers, mean pool
ensemble    1,148,966          the three above, mixed by softmax over 3 learned logits
==========  =================  ==========================================================================
"""

from fin_pipeline.models.attention import AttentionConfig, AttentionModel
from fin_pipeline.models.base import ForecastModel, ModelConfig
from fin_pipeline.models.cnn import CNNConfig, CNNModel
from fin_pipeline.models.ensemble import EnsembleConfig, EnsembleModel
from fin_pipeline.models.factory import MODEL_NAMES, MODELS, create_model, model_from_spec, model_spec
from fin_pipeline.models.lstm import LSTMConfig, LSTMModel

__all__ = [
    "MODELS",
    "MODEL_NAMES",
    "AttentionConfig",
    "AttentionModel",
    "CNNConfig",
    "CNNModel",
    "EnsembleConfig",
    "EnsembleModel",
    "ForecastModel",
    "LSTMConfig",
    "LSTMModel",
    "ModelConfig",
    "create_model",
    "model_from_spec",
    "model_spec",
]
