#!/usr/bin/env bash
# Quick start: set up, then run the main job on the embedded synthetic market (offline by default).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The repository root is the Dagster instance (dagster.yaml here; its storage under data/dagster/),
# the same one `dagster dev` run from here shows.
DAGSTER_HOME="$PWD" .venv/bin/fin-pipeline run "$@"
