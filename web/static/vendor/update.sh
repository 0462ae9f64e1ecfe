#!/usr/bin/env bash
# Copy the prebuilt files of the pinned npm packages into web/static/vendor (run after changing package.json).
set -euo pipefail
cd "$(dirname "$0")/../../.."
npm ci --ignore-scripts --no-audit --no-fund
target=web/static/vendor/swagger-ui
mkdir -p "$target"
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui-standalone-preset.js swagger-ui.css \
            LICENSE NOTICE favicon-32x32.png; do
  cp "node_modules/swagger-ui-dist/$file" "$target/"
done

# bpmn-js viewer (read-only diagrams with pan/zoom). Copied unchanged: the bpmn.io watermark must stay.
src=node_modules/bpmn-js/dist
target=web/static/vendor/bpmn-js
rm -rf "$target"
mkdir -p "$target/assets/bpmn-font/css" "$target/assets/bpmn-font/font"
cp "$src/bpmn-navigated-viewer.production.min.js" "$target/"
cp "$src/assets/diagram-js.css" "$src/assets/bpmn-js.css" "$target/assets/"
# bpmn.css loads its icon font from ../font/ (eot, woff2, woff, ttf, svg).
cp "$src/assets/bpmn-font/css/bpmn.css" "$target/assets/bpmn-font/css/"
for file in bpmn.eot bpmn.woff2 bpmn.woff bpmn.ttf bpmn.svg; do
  cp "$src/assets/bpmn-font/font/$file" "$target/assets/bpmn-font/font/"
done
cp node_modules/bpmn-js/LICENSE "$target/"

# dmn-js modeler (decision tables, DRD, literal expressions): its prebuilt bundle and CSS, copied unchanged.
src=node_modules/dmn-js/dist
target=web/static/vendor/dmn-js
rm -rf "$target"
mkdir -p "$target/assets"
cp "$src/dmn-modeler.production.min.js" "$target/"
cp -r "$src/assets/." "$target/assets/"
cp node_modules/dmn-js/LICENSE "$target/"

# Chart.js (the dashboards' charts): its UMD bundle (global `Chart`) and licence, copied unchanged.
target=web/static/vendor/chartjs
rm -rf "$target"
mkdir -p "$target"
cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/LICENSE.md "$target/"

# bpmn-js modeler + Camunda 7 properties panel: bundled from web/static/modeler-src/ with esbuild.
npm run --silent build-modeler

echo "vendored files updated in web/static/vendor"
