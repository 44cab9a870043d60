#!/usr/bin/env bash
# Compiles paystream into one self-contained executable for this machine's platform:
#   bash scripts/build.sh [OUTFILE]        (default dist/paystream)
# The binary embeds the Bun runtime, every dependency, PGlite's wasm/data files, Swagger UI's assets
# and the drizzle migrations (see src/embedded-assets.ts): it runs with no node_modules/ or drizzle/
# beside it, and /docs loads nothing from the network.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUTFILE=${1:-dist/paystream}
mkdir -p "$(dirname "$OUTFILE")"
# The fixes to dependencies in patches/ (npm ci's postinstall applies them): applied here too if an
# install skipped its scripts, and the build stops if one no longer applies, so no binary ships without them.
node_modules/.bin/patch-package --error-on-fail
# --sourcemap embeds the source map, so stack traces name src/ and modules/ lines despite --minify.
node_modules/.bin/bun build --compile --minify --sourcemap src/main.ts --outfile "$OUTFILE"
# Bun also writes that map beside the binary; nothing reads the copy.
rm -f "$OUTFILE.map"
