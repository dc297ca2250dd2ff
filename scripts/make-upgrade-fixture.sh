#!/usr/bin/env bash
# Writes the upgrade fixture with this release into tests/fixtures/upgrade/: a tiny demo district
# (60 persons, 3 communities) that went through a few pushes, as an SQLite file and as a
# PostgreSQL dump, each with the figures it showed. Run it when a release ships; commit the files.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/fixtures/upgrade
cargo run -q -p doorstep-tests --bin upgrade-fixture -- "$out"
{
  echo "Written by doorstep $(cargo pkgid -p doorstep-server | sed 's/.*[#@]//')"
  echo "at commit $(git rev-parse --short HEAD) on $(date -u +%Y-%m-%d)"
  echo "migrations: $(ls migrations/sqlite | tail -1)"
} > "$out/RELEASE"
cat "$out/RELEASE"
