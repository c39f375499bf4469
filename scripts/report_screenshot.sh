#!/usr/bin/env bash
# Render esper-lint's HTML report for fixtures/demo and photograph it with a real headless browser
# (Debian's chromium, installed here when absent): docs/report.png, shown in the README.
# Run from anywhere, in an environment with esper-lint[report] and torch installed.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
shot="${1:-docs/report.png}"
if ! command -v chromium >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Findings make esper-lint exit 1: that is the demo working, not a failure.
status=0
"$python" -m esper_lint --no-cache --report "$work/report.html" fixtures/demo >/dev/null || status=$?
[ "$status" -le 1 ] || { echo "esper-lint failed (exit $status)" >&2; exit "$status"; }
# --no-sandbox: chromium refuses to run as root otherwise; the page is a local file with no script.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --user-data-dir="$work/profile" --window-size=1400,1900 --screenshot="$PWD/$shot" \
    "file://$work/report.html" >"$work/chromium.log" 2>&1 || { cat "$work/chromium.log" >&2; exit 1; }
[ -s "$shot" ] || { echo "no screenshot written" >&2; cat "$work/chromium.log" >&2; exit 1; }
echo "wrote $shot from $(wc -c <"$work/report.html") bytes of HTML"
