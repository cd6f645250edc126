"""Side by side: rounds that alternate the peer's drain and commhub's, so drift hits both sides equally.

    python bench/drain_vs_peer.py [--rounds 3] [--n 5000]

Each round runs ../shared/peers/post_office_bench.sh (its two documented default configurations, -p 1 and
-p 2, one run each) and then bench/drain.py (a real `celery worker -c 2` with the default 8 sender threads),
both draining N emails to the same fake Mailgun API on the same PostgreSQL. The ratio of each round is
commhub / the better of post_office's two defaults; the median over rounds is the figure to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PEER_FAKE_ESP, RESULTS, ROOT, log, median, save

PEER_SCRIPT = PEER_FAKE_ESP.parent / "post_office_bench.sh"
PEER_RESULTS = Path("/tmp/peer_bench/post_office_results.json")  # noqa: S108 (where the peer script writes)


def peer_round(n: int) -> dict[str, float]:
    env = dict(os.environ, PEER_RUNS="1", PEER_CONFIGS="1:- 2:-")
    subprocess.run(["bash", str(PEER_SCRIPT), str(n)], env=env, check=True, capture_output=True, text=True)
    summary = json.loads(PEER_RESULTS.read_text())["summary"]
    return {key: value["drain_per_s_median"] for key, value in summary.items() if key.startswith("p=")}


def commhub_round(n: int) -> float:
    subprocess.run(
        [
            sys.executable,
            "bench/drain.py",
            "--n",
            str(n),
            "--runs",
            "1",
            "--modes",
            "worker",
            "--concurrency",
            "2",
            "--threads",
            "4",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads((RESULTS / "drain.json").read_text())["summary"]["worker_per_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    if not PEER_SCRIPT.exists():
        print(f"no peer at {PEER_SCRIPT}: nothing to compare against")
        return 1
    rounds = []
    for number in range(1, args.rounds + 1):
        peer = peer_round(args.n)
        ours = commhub_round(args.n)
        best_default = max(peer.values())
        rounds.append({"peer": peer, "commhub_worker": ours, "ratio": ours / best_default})
        log(
            f"round {number}/{args.rounds}: post_office {', '.join(f'{k} {v:.0f}/s' for k, v in peer.items())} | "
            f"commhub worker {ours:.0f}/s | ratio {ours / best_default:.2f}x"
        )
    ratio = median([r["ratio"] for r in rounds])
    save("drain_vs_peer", {"n": args.n, "rounds": rounds, "median_ratio": ratio})
    print(f"=== drain side by side ({args.rounds} alternating rounds, N={args.n}) ===")
    peers = ", ".join(f"{max(r['peer'].values()):.0f}" for r in rounds)
    ours = ", ".join(f"{r['commhub_worker']:.0f}" for r in rounds)
    print(f"post_office best default per round: {peers} /s")
    print(f"commhub worker -c 2 x 8 threads:     {ours} /s")
    print(f"ratio (median of rounds): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
