"""The names a setting can take where more than one module must agree on them: the executions a book can trade at.

:mod:`fin_pipeline.sources.execution` gives them their meaning (prices and returns); the settings refuse any
other name before a run starts.
"""

EXECUTIONS = ("next_open", "next_close", "close")
#: Sessions between the decision (close t) and the entry: the target reaches day t + h + LAG (the purge covers it).
LAG = {"next_open": 1, "next_close": 1, "close": 0}
#: The candle column each execution trades at.
PRICE = {"next_open": "open", "next_close": "close", "close": "close"}
NOT_EXECUTABLE = "not executable from a run after the close"

#: The models the board (model × fold leaderboard) knows: the networks of ``fin_pipeline.models`` and the
#: baselines (ridge and momentum of ``training/baselines.py``, gradient-boosted trees of ``training/boosting.py``).
NETWORKS = ("lstm", "cnn", "attention", "ensemble")
BOARD_BASELINES = ("ridge", "lightgbm", "momentum")
BOARD_MODELS = (*NETWORKS, *BOARD_BASELINES)
