"""Every random number generator that training draws from: seeded at a fresh start, saved in each checkpoint
and restored on resume, so that a resumed run draws what an uninterrupted one would have (the same batch orders,
dropout masks and initial weights).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def rng_state(loader: Any = None) -> dict[str, Any]:
    """Every RNG that training draws from, as tensors and lists (``weights_only``-loadable)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "cached_gaussian": cached,
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "train_loader": None,
    }
    if hasattr(loader, "state_dict"):
        state["train_loader"] = loader.state_dict()
    elif isinstance(getattr(loader, "generator", None), torch.Generator):  # a torch DataLoader(generator=...)
        state["train_loader"] = {"generator": loader.generator.get_state()}
    return state


def set_rng_state(state: Mapping[str, Any], loader: Any = None) -> None:
    """Restore what :func:`rng_state` captured (CUDA only when present on both sides)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if state.get("train_loader") is not None:
        if hasattr(loader, "load_state_dict"):
            loader.load_state_dict(state["train_loader"])
        elif isinstance(getattr(loader, "generator", None), torch.Generator):
            loader.generator.set_state(state["train_loader"]["generator"])


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
