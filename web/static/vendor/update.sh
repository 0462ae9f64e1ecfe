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
echo "vendored files updated in web/static/vendor"
