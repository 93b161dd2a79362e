"""The error of candles that break the schema or the rules: what every source and every check raises."""


class CandleError(ValueError):
    """Candles that break the schema or the rules; the message names the ticker/file and the row."""
