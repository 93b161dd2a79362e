"""``fin-pipeline-worker``: a Celery worker for the Celery executor, with torch threads set to its share of cores.

Several torch processes that each use every core run many times slower than one (on a 2-core machine, three
concurrent CPU trainings ran ~13x slower per fold). So a worker sets its process's torch thread count before
it takes any step: ``FIN_PIPELINE_TORCH_THREADS`` when set, else ``cores // concurrent steps on this machine``
(at least 1), where the number of concurrent steps is ``--machine-steps`` (default: this worker's
``--concurrency``; give the total when several workers share a machine).

A worker with ``--concurrency 1`` (the default) runs its steps in its own process (Celery's ``solo`` pool): the
pid recorded in a step's metadata is the worker's, and killing the worker kills the step, whose task the broker
then gives to another worker (late acknowledgement, see :mod:`fin_pipeline.runtime.services`). A Redis broker is
refused at start, saying why (:func:`fin_pipeline.runtime.services.refuse_redis_broker`); a task whose run has
already ended is skipped (:mod:`fin_pipeline.runtime.celery_watch`).

    fin-pipeline-worker --queue gpu                  # trains folds
    fin-pipeline-worker --queue dagster              # every other step
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

import torch

from fin_pipeline.core.settings import SettingsError, load_settings


def torch_threads(concurrent_steps: int, cores: int | None = None) -> int:
    """Threads per step: ``FIN_PIPELINE_TORCH_THREADS`` if set, else cores ÷ concurrent steps, at least 1."""
    explicit = load_settings().deployment.torch_threads  # checked, by name, when the settings were read
    if explicit is not None:
        return explicit
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, concurrent_steps))


def set_torch_threads(n: int) -> None:
    torch.set_num_threads(n)
    os.environ["OMP_NUM_THREADS"] = str(n)  # for any child process the step starts


def worker_metadata() -> dict[str, object]:
    """Where a step ran: host, process and its torch threads (recorded in the step's metadata)."""
    return {"worker_host": socket.gethostname(), "worker_pid": os.getpid(), "torch_threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fin-pipeline-worker", description=__doc__.splitlines()[0])
    parser.add_argument("--queue", "-q", action="append", help="queue to consume (repeatable; default: dagster)")
    parser.add_argument("--name", "-n", help="worker name (default: fin-<queues>-<pid>@<host>)")
    parser.add_argument("--concurrency", "-c", type=int, default=1, help="steps this worker runs at once")
    parser.add_argument("--machine-steps", type=int, help="steps all workers of this machine run at once")
    parser.add_argument("--loglevel", "-l", default="INFO")
    args = parser.parse_args(argv)

    from celery.signals import worker_process_init
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    from fin_pipeline.runtime.celery_watch import run_checked_task_class
    from fin_pipeline.runtime.services import (
        DEFAULT_QUEUE,
        ServiceUnreachable,
        celery_app_args,
        celery_backend,
        celery_broker,
        check_backend,
        check_broker,
        mask_url,
    )

    try:  # every setting checked before the worker takes a step, each bad one named
        load_settings()
    except SettingsError as exc:
        print(f"fin-pipeline-worker: {exc}", file=sys.stderr)
        return 2
    queues = args.queue or [DEFAULT_QUEUE]
    threads = torch_threads(args.machine_steps or args.concurrency)
    try:
        check_broker(celery_broker())
        check_backend(celery_backend())
    except ServiceUnreachable as exc:
        print(f"fin-pipeline-worker: {exc}", file=sys.stderr)
        return 2
    set_torch_threads(threads)
    worker_process_init.connect(lambda **_: set_torch_threads(threads), weak=False)  # prefork children
    app = make_app(celery_app_args())
    create_task(app, base=run_checked_task_class())  # a task of a run that already ended is skipped
    name = args.name or f"fin-{'-'.join(queues)}-{os.getpid()}@%h"
    print(
        f"fin-pipeline-worker: {name} on {','.join(queues)}, broker {mask_url(celery_broker())}, "
        f"{args.concurrency} step(s) at once, {threads} torch thread(s) each",
        flush=True,
    )
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(queues),
            "--hostname",
            name,
            "--concurrency",
            str(args.concurrency),
            "--pool",
            "solo" if args.concurrency == 1 else "prefork",
            "--prefetch-multiplier",
            "1",
            "--loglevel",
            args.loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
