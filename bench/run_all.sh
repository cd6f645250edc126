#!/usr/bin/env bash
# Every benchmark, then the peer (django-post_office) in the same session, then one summary with ratios.
#   bash bench/run_all.sh            (make bench)
# Environment: BENCH_N (drain size, default 5000), BENCH_RUNS (default 3), PEER_N / PEER_RUNS for the peer.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
N=${BENCH_N:-5000}
RUNS=${BENCH_RUNS:-3}
export DEBUG=false
mkdir -p bench/results

command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || true; }

echo "### drain (drain_queue in one process, and a real worker -c 2 x 8 sender threads)"
$PY bench/drain.py --n "$N" --runs "$RUNS" --concurrency 2 --threads 8 | tee bench/results/drain.txt
cp bench/results/drain.json bench/results/drain_default.json
if [ -f ../shared/peers/post_office_bench.sh ]; then
  echo "### drain side by side with django-post_office (alternating rounds)"
  $PY bench/drain_vs_peer.py --rounds "$RUNS" --n "$N" | tee bench/results/drain_vs_peer.txt
fi
echo "### single-send API"
$PY bench/api_single.py | tee bench/results/api_single.txt
echo "### batch ingest"
$PY bench/batch_ingest.py | tee bench/results/batch_ingest.txt
echo "### in-app inbox: badge and first page among a million rows, delivery through a worker"
$PY bench/inbox.py | tee bench/results/inbox.txt
echo "### rate-limit decision (Redis and database stores)"
$PY bench/ratelimit.py | tee bench/results/ratelimit.txt

PEER=../shared/peers/post_office_bench.sh
if [ -f "$PEER" ]; then
  echo "### peer: django-post_office, all three configurations (defaults and tuned) and its ingest"
  PEER_RUNS=${PEER_RUNS:-$RUNS} bash "$PEER" "${PEER_N:-$N}" | tee bench/results/peer.txt
  cp /tmp/peer_bench/post_office_results.json bench/results/peer.json
else
  echo "### peer: $PEER not found; the summary has no post_office ratios"
fi
$PY bench/summary.py
