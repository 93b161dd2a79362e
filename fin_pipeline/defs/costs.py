"""The cost model as per-run Dagster config: the fields of ``CostModel``, defaults from the ``FIN_PIPELINE_*`` settings.

``fold_metrics``, ``live_record`` and ``walk_forward_report`` take it, so a run can charge its books with another
model or capital from the launchpad; each builds the model first and refuses a bad value before any work.
"""

import dataclasses

from dagster import Failure

from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.config import config_from_spec, spec_values


class CostsConfig(
    config_from_spec(
        "CostsConfigFields",
        CostModel,
        "How the books are charged: half-spread + square-root impact at a capital, or flat bps.",
        defaults=load_settings().costs,
    )
):
    def costs(self, asset: str) -> CostModel:
        """The cost model of this run; ``Failure`` (not retried) naming the asset and the field otherwise."""
        try:
            values = spec_values(self)  # a subclass (the report's config) may add fields of its own
            return CostModel(**{f.name: values[f.name] for f in dataclasses.fields(CostModel)})
        except (TypeError, ValueError) as exc:
            raise Failure(f"{asset} config rejected before any work: {exc}", allow_retries=False) from exc
