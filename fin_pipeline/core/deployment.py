"""Deployment settings: where and how steps run beyond one process (README "Scaling out").

The executor, the Celery broker and result backend, the S3 endpoint, the local cache of an ``s3://`` data
directory, the torch threads of a worker and the image of the GPU steps' pods. They are read from the environment
with the other settings (:meth:`fin_pipeline.core.settings.Settings.from_env`), so a bad value stops the code
location, the CLI or a worker when it starts, with the variable's name, instead of failing a run later (an
unreachable broker, a step pod that cannot pull its image). The modules that use them read the same variables.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

# FIN_PIPELINE_EXECUTOR: Dagster's default (each run's steps in subprocesses of one machine), Celery workers, or a
# Kubernetes pod per step (fin_pipeline/defs/executors.py).
EXECUTORS = ("default", "celery", "k8s")
DEFAULT_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"  # FIN_PIPELINE_CELERY_BROKER: RabbitMQ on this machine
DEFAULT_BACKEND = "redis://127.0.0.1:6379/0"  # FIN_PIPELINE_CELERY_BACKEND: Redis on this machine
_URL = re.compile(r"^[a-z][a-z0-9+.\-]*://\S*$")  # kombu's and Celery's URLs: scheme://...
_HTTP = re.compile(r"^https?://[^\s/]+\S*$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._\-/:@]*$")  # registry/repository[:tag][@digest], lower-case


@dataclasses.dataclass(frozen=True)
class Deployment:
    executor: str = "default"
    celery_broker: str = DEFAULT_BROKER
    celery_backend: str = DEFAULT_BACKEND
    s3_endpoint: str | None = None  # None: boto's own (AWS, or AWS_ENDPOINT_URL)
    cache_dir: Path | None = None  # None: <tmp>/fin_pipeline_cache/<bucket>/<prefix>
    torch_threads: int | None = None  # None: the worker's cores ÷ its concurrent steps
    gpu_image: str | None = None  # None: GPU steps run in the run's image
    # Celery: seconds a step waits for a live consumer of its queue before the run gives it up and frees its slot;
    # at most 600, the bound the README states for a run whose worker died.
    worker_wait: float = 300.0

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"FIN_PIPELINE_EXECUTOR={self.executor!r} is not one of {list(EXECUTORS)}")
        for name, url in (
            ("FIN_PIPELINE_CELERY_BROKER", self.celery_broker),
            ("FIN_PIPELINE_CELERY_BACKEND", self.celery_backend),
        ):
            if not _URL.match(url):
                raise ValueError(
                    f"{name}={url!r} is not a URL like pyamqp://user:pass@host:5672// or redis://host:6379/0"
                )
        if self.s3_endpoint is not None and not _HTTP.match(self.s3_endpoint):
            raise ValueError(f"FIN_PIPELINE_S3_ENDPOINT={self.s3_endpoint!r} is not an http(s)://host[:port] URL")
        if self.cache_dir is not None and self.cache_dir.exists() and not self.cache_dir.is_dir():
            raise ValueError(f"FIN_PIPELINE_CACHE_DIR={str(self.cache_dir)!r} is a file, not a folder")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"FIN_PIPELINE_TORCH_THREADS={self.torch_threads} is not a positive integer")
        if not (isinstance(self.worker_wait, int | float) and 0 < self.worker_wait <= 600):  # NaN too
            raise ValueError(f"FIN_PIPELINE_WORKER_WAIT={self.worker_wait!r} is not a number of seconds in (0, 600]")
        if self.gpu_image is not None and not _IMAGE.match(self.gpu_image):
            raise ValueError(
                f"FIN_PIPELINE_GPU_IMAGE={self.gpu_image!r} is not an image reference like "
                "ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cuda"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Deployment:
        """The deployment the variables in ``env`` describe; a ValueError naming the first bad one."""

        def get(name: str) -> str:
            return env.get(name, "").strip()

        kw: dict[str, object] = {}
        if v := get("FIN_PIPELINE_EXECUTOR"):
            kw["executor"] = v.lower()
        if v := get("FIN_PIPELINE_CELERY_BROKER"):
            kw["celery_broker"] = v
        if v := get("FIN_PIPELINE_CELERY_BACKEND"):
            kw["celery_backend"] = v
        if v := get("FIN_PIPELINE_S3_ENDPOINT"):
            kw["s3_endpoint"] = v
        if v := get("FIN_PIPELINE_CACHE_DIR"):
            kw["cache_dir"] = Path(v).expanduser()
        if v := get("FIN_PIPELINE_TORCH_THREADS"):
            if not re.fullmatch(r"[0-9]+", v):
                raise ValueError(f"FIN_PIPELINE_TORCH_THREADS={v!r} is not a positive integer")
            kw["torch_threads"] = int(v)
        if v := get("FIN_PIPELINE_GPU_IMAGE"):
            kw["gpu_image"] = v
        if v := get("FIN_PIPELINE_WORKER_WAIT"):
            try:
                kw["worker_wait"] = float(v)
            except ValueError:
                raise ValueError(f"FIN_PIPELINE_WORKER_WAIT={v!r} is not a number of seconds in (0, 600]") from None
        # Read by Dagster when a PostgreSQL instance loads (deploy/postgres/dagster.yaml); checked here, not kept:
        # the URL may hold a password.
        if (v := get("DAGSTER_PG_URL")) and not re.match(r"^postgres(ql)?(\+\w+)?://\S+$", v):
            raise ValueError("DAGSTER_PG_URL is not a postgresql://user[:password]@host:port/database URL")
        return cls(**kw)  # type: ignore[arg-type]
