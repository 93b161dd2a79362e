"""Checkpoints: dicts of state dicts and plain values, written atomically, read with ``weights_only=True``.

A checkpoint written by :class:`~fin_pipeline.training.trainer.Trainer` has the keys

==================  ========================================================================================
``format``          1
``model``           ``model.state_dict()``
``model_spec``      ``{"name", "config"}`` from :func:`fin_pipeline.models.model_spec`; ``None`` for a model that
                    is not a fin_pipeline forecaster
``optimizer``       ``optimizer.state_dict()``
``scheduler``       ``scheduler.state_dict()`` or ``None``
``epoch``           epochs completed (1-based count)
``best_score``      best value of ``monitor`` so far (``None`` before the first finite one)
``best_epoch``      the epoch that scored it
``monitor``/``mode``  what the best checkpoint tracks, e.g. ``'val_loss'`` / ``'min'``
``early_stopping``  :meth:`~fin_pipeline.training.callbacks.EarlyStopping.state_dict` or ``None``
``checkpoint``      :meth:`~fin_pipeline.training.callbacks.ModelCheckpoint.state_dict` or ``None``
``history``         list of per-epoch dicts (see ``Trainer.fit``)
``rng``             RNG states: ``torch``, ``cuda`` (list, empty without CUDA), ``numpy``, ``python``,
                    ``train_loader`` (the shuffle generator), all as tensors and plain lists
``config``          the trainer's :class:`~fin_pipeline.training.trainer.TrainerConfig` as a dict
``extra``           the caller's plain dict (normalization stats, fold boundaries, data and code versions)
``content_hash``    BLAKE2b digest of every other entry (tensor bytes, dtypes, shapes and plain values), written
                    by :func:`save_checkpoint` and checked by :func:`load_checkpoint`: a checkpoint whose bytes
                    changed on disk is an error naming its path, never weights that are silently used
==================  ========================================================================================

Only tensors and plain Python values are stored, never a pickled object, so ``torch.load(path,
weights_only=True)`` reads every checkpoint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fin_pipeline.models import model_from_spec, model_spec
from fin_pipeline.store.parquet import IntegrityError, StorageError, atomic_path, rebuild_hint

HASH_KEY = "content_hash"


class TrainingError(ValueError):
    """Training cannot go on: a NaN/inf loss or weights (the message names the epoch and batch)."""


class TrainingInterrupted(TrainingError):
    """Training stopped at a batch boundary because a stop was requested (SIGINT/SIGTERM); not worth retrying.

    ``last.pt`` in the checkpoint directory holds the last complete epoch (``epoch``); the partial epoch is
    dropped, and a resume redoes it exactly.
    """

    def __init__(self, message: str, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch


def spec_of(model: nn.Module) -> dict[str, Any] | None:
    """The model's ``model_spec``, or ``None`` for a module that is not a fin_pipeline forecaster."""
    try:
        return model_spec(model)
    except TypeError:
        return None


def to_plain(value: Any, where: str = "extra") -> Any:
    """``value`` with numpy arrays as tensors, numpy scalars as Python numbers, dates and paths as strings.

    Raises ``TypeError`` naming the key of anything else that ``weights_only`` loading would reject.
    """
    if isinstance(value, np.generic):  # before the float check: np.float64 is a float, but pickles as numpy
        return value.item()
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = value.to_dict() if hasattr(value, "to_dict") else dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: cannot store a {type(value).__name__} in a checkpoint; use plain values or tensors")


def _plain_spec(spec: Any) -> Any:
    """Specs compared structurally: tuples and lists alike (a tuple comes back from a checkpoint as a tuple or
    list depending on how it was stored)."""
    if isinstance(spec, Mapping):
        return {k: _plain_spec(v) for k, v in spec.items()}
    if isinstance(spec, list | tuple):
        return [_plain_spec(v) for v in spec]
    return spec


def assert_finite_weights(state_dict: Mapping[str, torch.Tensor], what: str = "model") -> None:
    """Raise :class:`TrainingError` naming the first floating-point tensor holding NaN/inf."""
    tensors = [(k, t) for k, t in state_dict.items() if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not tensors:
        return
    ok = torch.stack([torch.isfinite(t).all() for _, t in tensors])  # one host sync for the whole model
    if not bool(ok.all()):
        bad = tensors[int((~ok).nonzero()[0])][0]
        raise TrainingError(f"{what} weights are not finite (NaN/inf in {bad!r}); refusing to write a checkpoint")


class CheckpointError(StorageError):
    """A checkpoint that cannot be loaded (truncated, corrupt, unreadable); the message names its path."""


def checkpoint_digest(obj: Any) -> str:
    """BLAKE2b-128 of a checkpoint dict (without its ``content_hash``): keys, tensor dtypes, shapes and bytes,
    plain values by ``repr``; in a fixed order, so the same content always gives the same digest."""
    h = hashlib.blake2b(digest_size=16)

    def walk(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, Mapping):
            h.update(b"{")
            for k in sorted(x, key=repr):
                if k == HASH_KEY:
                    continue
                h.update(repr(k).encode() + b":")
                walk(x[k])
            h.update(b"}")
        elif isinstance(x, list | tuple):
            h.update(b"[" if isinstance(x, list) else b"(")
            for v in x:
                walk(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode() + b";")

    walk(obj)
    return h.hexdigest()


def save_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temp file + rename), after checking the weights are finite,
    with its content hash (``content_hash``) added."""
    path = Path(path)
    if "model" in checkpoint:
        assert_finite_weights(checkpoint["model"])
    ckpt = {k: v for k, v in checkpoint.items() if k != HASH_KEY}
    ckpt[HASH_KEY] = checkpoint_digest(ckpt)
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with the content hash checked (once); errors name the path."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path}: no such file; {rebuild_hint(path)}") from None
    except Exception as exc:  # zip reader, unpickler: the message names no file, ours does
        raise CheckpointError(
            f"checkpoint {path} cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}): truncated or corrupt; "
            f"{rebuild_hint(path)}"
        ) from exc
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(ckpt).__name__}, not a dict; {rebuild_hint(path)}")
    stored = ckpt.get(HASH_KEY)
    if stored is not None and (computed := checkpoint_digest(ckpt)) != stored:
        raise IntegrityError(
            f"checkpoint {path}: content hash mismatch (stored hash {stored}, computed {computed}): the file is "
            f"corrupt and was not used; {rebuild_hint(path)}"
        )
    return ckpt


def load_checkpoint(
    path: str | Path, model: nn.Module | None = None, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """``(model, checkpoint)``: the weights loaded into ``model``, or into a model rebuilt from ``model_spec``.

    Raises ``ValueError`` when ``model``'s spec differs from the checkpoint's (naming both), when there is no
    spec to rebuild from, or when the state dict does not fit the model.
    """
    ckpt = read_checkpoint(path, map_location)
    spec = ckpt.get("model_spec")
    if model is None:
        if spec is None:
            raise ValueError(f"checkpoint {path} has no model_spec to rebuild the model from; pass the model")
        model = model_from_spec(spec)
    else:
        own = spec_of(model)
        if _plain_spec(own) != _plain_spec(spec):
            raise ValueError(f"checkpoint {path} was written for model spec {spec}, but the model's spec is {own}")
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise ValueError(f"checkpoint {path} does not fit the model {type(model).__name__}: {exc}") from exc
    return model, ckpt
