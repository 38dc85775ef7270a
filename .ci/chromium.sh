#!/usr/bin/env bash
# Make sure Debian's chromium is installed (the inspector's browser test drives it with Playwright;
# Playwright's own browser download is never used). Idempotent: does nothing when it is there.
set -u
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing and this is not a root Debian shell: the browser test will be skipped" >&2
  exit 0
fi
echo "installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium did not install" >&2; exit 1; }
