#!/bin/sh
# Install the system packages the tests need when they are missing, on Debian-like machines.
# Usage: ensure-system-deps.sh [python] [node] [redis] [chromium]
set -eu
missing=""
for need in "$@"; do
  case "$need" in
    python) python3 -m venv --help >/dev/null 2>&1 || missing="$missing python3-venv" ;;
    node) command -v node >/dev/null 2>&1 || missing="$missing nodejs"
          command -v npm >/dev/null 2>&1 || missing="$missing npm" ;;
    redis) command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server" ;;
    chromium) command -v chromium >/dev/null 2>&1 || missing="$missing chromium" ;;
    *) echo "ensure-system-deps: unknown need '$need'" >&2; exit 2 ;;
  esac
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: please install:$missing" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "ensure-system-deps: installing$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
