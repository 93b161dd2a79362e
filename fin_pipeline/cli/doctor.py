"""``fin-pipeline doctor``: list (and with ``--repair`` fix) dead runs and orphaned run folders."""

from __future__ import annotations

import argparse


def doctor(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from fin_pipeline.core.settings import load_settings
    from fin_pipeline.runtime.doctor import doctor as diagnose

    with DagsterInstance.get() as instance:
        for line in diagnose(instance, load_settings().data_dir, repair=args.repair):
            print(f"fin-pipeline doctor: {line}")
    return 0
