#!/usr/bin/env bash
# Create .venv and install fin_pipeline with its extras (default: dev, cluster and tracking, what the tests use).
# Shared by the quick start and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first, pinned: 2.13.0 is the CPU build on this machine's disk; anything looser pulls a CUDA build.
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[${FIN_PIPELINE_EXTRAS:-dev,cluster,tracking}]"
