"""What the pipeline benchmark (``pipeline.py``) prints: whether the two paths wrote the same results, and the
timings per path and per stage with the verdict on the goal."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from pipeline_runs import Work

GOAL = 1.25
NOISY = 1.5  # train_fold timings further apart than this: a neighbour took the CPU during some of them


def differences(work: Work, a: Path, b: Path) -> tuple[list[str], list[str]]:
    """What differs between the files the two paths wrote: (results, renderings); empty lists: the same.

    Results: the set of files, every Parquet table (within 1e-9 relative), the JSON files, the checkpoints'
    tensors and epoch/score. Renderings (report.md, the PNGs) are compared byte for byte but only noted: they
    are drawn from the compared tables, and (B) keeps a copy of the report's text that can drift from the asset's.
    """
    import pandas as pd
    import torch

    from fin_pipeline.store.parquet import read_json, read_parquet

    found: list[str] = []
    files = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    other = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    if files != other:
        found.append(
            f"different files: only (A) {sorted(map(str, files - other))}, only (B) {sorted(map(str, other - files))}"
        )

    def frames(rel: str) -> None:
        try:
            pd.testing.assert_frame_equal(read_parquet(a / rel)[0], read_parquet(b / rel)[0], rtol=1e-9, atol=1e-12)
        except AssertionError as exc:
            found.append(f"{rel}: {str(exc).splitlines()[0]}")

    for t in work.tickers:
        frames(f"raw_candles/{t}.parquet")
        frames(f"feature_windows/{t}.parquet")
    for f in work.folds:
        for rel in (f"folds/{f}.json", f"normalization/{f}.json"):
            if read_json(a / rel) != read_json(b / rel):
                found.append(f"{rel} differs")
        for name in ("best.pt", "last.pt"):
            ca = torch.load(a / "models" / f / name, weights_only=True)
            cb = torch.load(b / "models" / f / name, weights_only=True)
            same = (ca["epoch"], ca["best_score"]) == (cb["epoch"], cb["best_score"])
            same &= ca["model"].keys() == cb["model"].keys()
            same &= all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])
            oa, ob = ca["optimizer"]["state"], cb["optimizer"]["state"]
            same &= oa.keys() == ob.keys() and all(
                torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i] if torch.is_tensor(oa[i][k])
            )
            same &= ca["scheduler"] == cb["scheduler"]
            if not same:
                found.append(f"models/{f}/{name}: checkpoint tensors or epoch/score differ")
        for name in ("metrics", "predictions", "backtest"):
            frames(f"metrics/{f}/{name}.parquet")
    for name in ("folds", "fold_summary", "overall_metrics", "oos_predictions", "backtest"):
        frames(f"reports/{name}.parquet")
    renderings = [
        f"{rel} differs"
        for rel in sorted(files & other)
        if rel.suffix in (".md", ".png") and (a / rel).read_bytes() != (b / rel).read_bytes()
    ]
    return found, renderings


def load_average() -> str:
    """The 1/5/15-minute load averages (a neighbour's work shows there), or 'n/a'."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def report(work, times, steps, walls, fits, writes, b_stages, loads, instance_seconds, diffs, notes, quick) -> int:
    med = statistics.median
    n_t, n_f = len(work.tickers), len(work.folds)
    runs = n_t + n_f + 1
    b, lo_b = med(times["B"]), min(times["B"])
    labels = {
        "A": f"(A) through Dagster, sqlite instance: {runs} in-process runs",
        "B": "(B) direct library calls, one process",
        "E": "(E) as (A), in-memory instance (DagsterInstance.ephemeral)",
    }
    print(f"{'':<62} {'median':>8}     {'ratio':>6}       {'min':>8}     {'ratio':>6}")
    for path in "ABE":
        if path in times:
            t, lo = med(times[path]), min(times[path])
            print(f"{labels[path]:<62} {t:8.3f} s   {t / b:6.3f} x   {lo:8.3f} s   {lo / lo_b:6.3f} x")
    print("all runs (s): " + "; ".join(f"{p}: {', '.join(f'{t:.3f}' for t in v)}" for p, v in times.items()))
    print(f"creating the sqlite instance (its schema; one-off in real use, not timed): {med(instance_seconds):.3f} s")

    def step(path: str, name: str) -> float:
        return med(fits[path]) if name == "train_fold" else med([s.get(name, 0.0) for s in steps[path]])

    def stage(name: str) -> float:
        return med([s.get(name, 0.0) for s in b_stages])

    rows = [
        ("raw_candles (fetch, write, 4 checks)", "raw_candles", "candles"),
        ("feature_windows (features, write, 2 checks)", "feature_windows", "features"),
        ("  of which the checks' library calls (B: candle + feature checks)", None, "checks"),
        ("window set load (A: inside the first fold step, cached per process; B: once)", None, "window set (once)"),
        ("walk_forward_folds", "walk_forward_folds", "folds"),
        ("normalization_stats", "normalization_stats", "normalization"),
        ("trained_model", "trained_model", "training"),
        ("  of which train_fold (the same library call on both paths)", "train_fold", "train_fold"),
        ("fold_metrics", "fold_metrics", "metrics"),
        ("walk_forward_report", "walk_forward_report", "report"),
    ]
    show_e = "E" in times
    print(f"per stage, medians (s){'':<46} {'(A) steps':>10} {'(B)':>10}" + (f" {'(E) steps':>10}" if show_e else ""))
    for label, a_name, b_name in rows:
        a_cell = "" if a_name is None else f"{step('A', a_name):10.3f}"
        e_cell = "" if a_name is None or not show_e else f"{step('E', a_name):10.3f}"
        print(f"  {label:<66} {a_cell:>10} {stage(b_name):10.3f}" + (f" {e_cell:>10}" if show_e else ""))
    for path in "AE" if show_e else "A":
        total, in_steps = med(times[path]), med([sum(s.values()) for s in steps[path]])
        outside = med([t - sum(s.values()) for t, s in zip(times[path], steps[path], strict=True)])
        seconds, events = med([w[0] for w in writes[path]]), med([w[1] for w in writes[path]])
        print(
            f"({path}) {total:.3f} s = {in_steps:.3f} s inside the steps + {outside:.3f} s outside them "
            f"({outside / runs * 1000:.0f} ms per run: run creation, plan, resources, event handling); "
            f"instance writes (event log + run storage, inside and outside steps): {seconds:.3f} s "
            f"for {events:.0f} events = {seconds / max(events, 1) * 1000:.1f} ms per event"
        )
    print("(A) wall per job: " + ", ".join(f"{job} {med([w[job] for w in walls]):.3f} s" for job in walls[0]))
    load = med(loads)
    print(
        f"window set: one load {load * 1000:.1f} ms; both paths load it once per process (the fold assets share a "
        f"per-process cache keyed by the feature files' paths, sizes and modification times)"
    )
    equal = not diffs
    print(
        "results equal: "
        + (
            "yes (the same files; candles, features, fold boundaries, normalization, checkpoint tensors/epoch/score, "
            f"predictions, metrics and backtest of every fold, report tables; {len(times['B'])} rounds)"
            if equal
            else "no"
        )
    )
    for d in diffs[:20]:
        print(f"  {d}")
    print(
        "renderings (report.md, PNGs) byte-identical: "
        + ("yes" if not notes else "no (not counted as a result: " + "; ".join(notes[:6]) + ")")
    )
    # train_fold is the one call whose time a busy neighbour can multiply (torch's threads), and it is the same
    # call on both paths: hold it equal (the median of all its timings) and compare the rest, round by round.
    fit = med(fits["A"] + fits["B"])
    rest = {p: [t - f for t, f in zip(times[p], fits[p], strict=True)] for p in "AB"}
    extra = med([a_ - b_ for a_, b_ in zip(rest["A"], rest["B"], strict=True)])
    held = (fit + med(rest["A"])) / (fit + med(rest["B"]))
    print(
        f"all but train_fold: (A) {med(rest['A']):.3f} s, (B) {med(rest['B']):.3f} s: Dagster adds {extra:.3f} s "
        f"(median of the rounds' differences) = {extra / runs * 1000:.0f} ms per run; with train_fold held at its "
        f"median {fit:.3f} s on both paths the ratio is {held:.3f} x"
    )
    all_fits = fits["A"] + fits["B"]
    if max(all_fits) > NOISY * min(all_fits):
        print(
            f"NOTE: train_fold, the same call on both paths, took {min(all_fits):.1f} to {max(all_fits):.1f} s: the "
            "machine was busy and the raw median ratio is mostly noise; the goal is judged with train_fold held equal"
        )
    print(f"load average at the end: {load_average()}")
    a, lo_a = med(times["A"]), min(times["A"])
    verdict = "meets" if held <= GOAL else "misses"
    print(
        f"goal (A) <= {GOAL}x (B): {verdict} (with train_fold held equal {held:.3f}; raw median ratio "
        f"{a / b:.3f}, min ratio {lo_a / lo_b:.3f})"
        + ("; --quick trains too little for the goal to apply: judge it at the default size" if quick else "")
    )
    return 0 if equal and (verdict == "meets" or quick) else 1
