"""Stage 2 as a library (no dagster): TA-Lib indicators → 40 leak-free features, targets, zero-copy windows."""

from fin_pipeline.features.assemble import build_windows, load_window_set
from fin_pipeline.features.columns import compute_features
from fin_pipeline.features.frame import FeatureError, build_feature_frame, compute_target, min_candles, window_ok_mask
from fin_pipeline.features.indicators import FEATURE_COLUMNS, FEATURE_VERSION, INDICATORS, WARMUP, WINDOW
from fin_pipeline.features.lookahead import default_cuts, lookahead_violations
from fin_pipeline.features.windows import WindowSet

__all__ = [
    "FEATURE_COLUMNS",
    "FEATURE_VERSION",
    "INDICATORS",
    "WARMUP",
    "WINDOW",
    "FeatureError",
    "WindowSet",
    "build_feature_frame",
    "build_windows",
    "compute_features",
    "compute_target",
    "default_cuts",
    "load_window_set",
    "lookahead_violations",
    "min_candles",
    "window_ok_mask",
]
