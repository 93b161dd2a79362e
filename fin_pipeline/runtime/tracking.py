"""Experiment tracking: every fold's training, and every night's live model, as an MLflow run.

Off unless ``FIN_PIPELINE_MLFLOW`` is set (README "Experiment tracking"); off, nothing here imports mlflow. On:

- one **experiment per walk-forward build**: the model and a hash of the training config, the fold rules and the
  code version (``fin_pipeline cnn 3f9a01c2``), so that the folds and live models trained with the same settings
  sit together and another config starts another experiment (``FIN_PIPELINE_MLFLOW_EXPERIMENT`` names it
  instead);
- one **run per training** (``fold 2024-01-01``, ``live 2026-11-30``): the training and fold configuration, the
  data and code versions as params; ``train_loss``, ``tuning_loss``, ``lr`` and ``seconds`` per epoch (step =
  epoch, the checkpoint's history exactly, resumed epochs included); the best checkpoint as the artifact
  ``checkpoint/best.pt``. A retried step goes on logging into the run it started.

Tracking never fails a training: the first call that fails (a server that does not answer, a store that cannot be
written) gives one warning naming the URI, and the training goes on untracked; a URI that failed is not tried
again by this process. It reads nothing from the model and touches no random state, so it changes no tensor.

The Dagster integration ``dagster-mlflow`` is not used: its resource opens one MLflow run per Dagster *run* and
sets a process-wide active run, whereas a training here is one step (``fin-pipeline run`` executes many runs in
one process, a step may train in a thread), and its resource raises when the server is down.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# A server that does not answer is given up on in seconds, not after MLflow's default of 7 retries with doubling
# waits (minutes per call); a user's own MLFLOW_HTTP_REQUEST_* settings win.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
_FAILED_URIS: set[str] = set()  # URIs that failed in this process: warned about once, not tried again
EPOCH_METRICS = {"train_loss": "train_loss", "val_loss": "tuning_loss", "lr": "lr", "seconds": "seconds"}


def build_id(values: Mapping[str, Any]) -> str:
    """Eight hex digits of the SHA-256 of ``values`` as sorted JSON: the same settings, the same build."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]


def flat_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts flattened to ``a.b`` keys, values as strings (lists and None as JSON)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_params(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


class Untracked:
    """Tracking off (or given up): every call does nothing."""

    uri: str | None = None

    def callback(self) -> Callable[[Any, dict[str, Any]], None]:
        return lambda _trainer, _record: None

    def finish(self, status: str, history: list[dict[str, Any]] = (), best_path: Path | None = None) -> None:
        return None


@dataclasses.dataclass
class TrackedTraining:
    """One MLflow run of one training; every call guarded: the first failure warns once and stops tracking."""

    client: Any
    uri: str
    run_id: str
    warn: Callable[[str], Any]
    logged: int = 0  # the last epoch logged

    def callback(self) -> Callable[[Any, dict[str, Any]], None]:
        """A Trainer callback logging every epoch of the history not logged yet (resumed ones on the first call)."""
        return lambda trainer, _record: self._log_epochs(trainer.history)

    def finish(self, status: str, history: list[dict[str, Any]] = (), best_path: Path | None = None) -> None:
        """Log what is left of ``history``, the best checkpoint as an artifact, and end the run with ``status``
        (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        self._log_epochs(history)
        if best_path is not None:
            self._guard(lambda: self.client.log_artifact(self.run_id, str(best_path), artifact_path="checkpoint"))
        self._guard(lambda: self.client.set_terminated(self.run_id, status=status))

    def _log_epochs(self, history: list[dict[str, Any]]) -> None:
        new = [r for r in history if r["epoch"] > self.logged]
        if not new or self.client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(name, float(r[key]), now, int(r["epoch"]))
            for r in new
            for key, name in EPOCH_METRICS.items()
            if r.get(key) is not None
        ]
        if self._guard(lambda: self.client.log_batch(self.run_id, metrics=metrics)):
            self.logged = max(int(r["epoch"]) for r in new)

    def _guard(self, call: Callable[[], Any]) -> bool:
        if self.client is None:
            return False
        try:
            call()
            return True
        except Exception as exc:  # tracking never fails a training
            self.client = None
            _give_up(self.uri, exc, self.warn)
            return False


def _give_up(uri: str, exc: BaseException, warn: Callable[[str], Any]) -> None:
    if uri not in _FAILED_URIS:
        _FAILED_URIS.add(uri)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warn(f"experiment tracking at {uri} failed ({type(exc).__name__}: {first[:300]}); training goes on untracked")


def start_training(
    uri: str | None,
    *,
    experiment: str,
    name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    warn: Callable[[str], Any],
) -> TrackedTraining | Untracked:
    """The MLflow run of one training in ``experiment`` (created when missing), or :class:`Untracked` when
    ``uri`` is None or tracking there failed. A run of this experiment with the same ``tags`` that did not finish
    (a retried step) is continued instead of starting another."""
    if uri is None:
        return Untracked()
    if uri in _FAILED_URIS:
        return Untracked()
    if uri.startswith(("http://", "https://")):
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
    try:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else _create_experiment(client, experiment, uri)
        where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        earlier = client.search_runs([experiment_id], filter_string=where, max_results=1)
        if earlier and earlier[0].info.status != "FINISHED":
            run = earlier[0]
            client.update_run(run.info.run_id, status="RUNNING")
            logged = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
            return TrackedTraining(client, uri, run.info.run_id, warn, max(logged, default=0))
        run = client.create_run(experiment_id, run_name=name, tags=dict(tags))
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in flat_params(params).items()])
        return TrackedTraining(client, uri, run.info.run_id, warn)
    except Exception as exc:  # an unreachable server, a store that cannot be written: warn once, go on
        _give_up(uri, exc, warn)
        return Untracked()


def artifact_location(uri: str) -> str | None:
    """A local database's artifacts go in ``mlartifacts/`` beside it (MLflow would pick a folder under the
    current directory); a server keeps its own."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return None


def _create_experiment(client: Any, name: str, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        return client.create_experiment(name, artifact_location=artifact_location(uri))
    except MlflowException:  # another process created it in between
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id
