#!/usr/bin/env bash
# Refresh the console's vendored JavaScript from the npm registry (run by a developer, never at run time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent "echarts@${ECHARTS_VERSION:-5.6.0}" "htmx.org@${HTMX_VERSION:-2.0.11}"
dest="$root/src/urbanbrain/web/static/vendor"
mkdir -p "$dest"
cp node_modules/echarts/dist/echarts.min.js node_modules/htmx.org/dist/htmx.min.js "$dest/"
cp node_modules/echarts/LICENSE "$dest/ECHARTS-LICENSE"
cp node_modules/htmx.org/LICENSE "$dest/HTMX-LICENSE"
echo "vendored into $dest"
