#!/usr/bin/env bash
# Debian's Chromium for the UI test (fin_pipeline_tests/ui/test_browser.py); nothing to do when it is there.
set -euo pipefail
command -v chromium >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
chromium --version
