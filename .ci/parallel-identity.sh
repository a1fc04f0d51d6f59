#!/usr/bin/env bash
# The local-parallel back end must give the local back end's numbers (issue 16): after .ci/run's smoke
# (local, 2 threads, home .planeval), smoke again in a fresh home through --executor local-parallel.
# Training numerics depend on the thread count, so each of its two workers gets the same 2 threads
# (PLANEVAL_THREADS is divided among the workers: 4 / 2). The two leaderboards must be equal to the bit.
set -euo pipefail
cd "$(dirname "$0")/.."
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
start=$(date +%s)
if ! PLANEVAL_THREADS=4 .venv/bin/planeval run smoke --home "$home" --executor local-parallel --no-progress \
    > "$home/run.log" 2>&1; then
  tail -40 "$home/run.log"
  exit 1
fi
echo "local-parallel smoke: $(( $(date +%s) - start )) s"
.venv/bin/planeval leaderboard --suite smoke --home .planeval --format json > "$home/local.json"
.venv/bin/planeval leaderboard --suite smoke --home "$home" --format json > "$home/parallel.json"
if ! cmp -s "$home/local.json" "$home/parallel.json"; then
  echo "local-parallel smoke differs from local:"
  diff "$home/local.json" "$home/parallel.json" | head -40
  exit 1
fi
echo "local-parallel smoke: leaderboard identical to local ($(grep -c '"variant"' "$home/local.json") rows)"
