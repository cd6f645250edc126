"""Side by side: rounds that alternate the peer's drain and commhub's, so drift hits both sides equally.

    python bench/drain_vs_peer.py [--rounds 3] [--n 5000] [--modes batch,single] [--commhub-env NAME=VALUE ...]

Each round runs ../shared/peers/post_office_bench.sh with its two documented default configurations (-p 1 and
-p 2: 5 threads, batch 100) and its tuned one (-p 2, batch 1000: the fastest found on 2 cores), one run each,
then bench/drain.py (a real `celery worker -c 2`) twice: with ESP batch sending (the default: one Mailgun call
per group of recipients, to commhub's fake Mailgun, which speaks the batch form and counts recipients) and
with one message per call (COMMHUB_ESP_BATCH_SIZE=0, to the peer's own fake Mailgun), all on the same
PostgreSQL. Each round gives commhub / post_office's better default and commhub / its tuned config per mode;
the medians over rounds are the figures to quote.

Beside throughput it measures CPU per delivered message, summed over each side's processes while they drain:
post_office's drain command (and its fork pool) or commhub's worker processes, plus the PostgreSQL backends
serving them; the fake ESP is left out on both sides. A CPU ratio survives a noisy machine better than a rate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PEER_FAKE_ESP, RESULTS, ROOT, CpuSampler, log, median, save

PEER_SCRIPT = PEER_FAKE_ESP.parent / "post_office_bench.sh"
PEER_RESULTS = Path("/tmp/peer_bench/post_office_results.json")  # noqa: S108 (where the peer script writes)
DEFAULTS, TUNED = ("1:-", "2:-"), "2:-:1000"


def _peer_drain(cmdline: str) -> bool:
    return "po_drain" in cmdline or (cmdline.startswith("postgres: ") and " peer_bench " in cmdline)


def peer_run(n: int, configs: str) -> tuple[dict[str, float], float]:
    """The peer's drain rate per config, and its CPU ms per message (drain command + its PostgreSQL backends,
    counted only while a drain runs)."""
    env = dict(os.environ, PEER_RUNS="1", PEER_CONFIGS=configs)
    with CpuSampler(_peer_drain, while_alive="po_drain") as cpu:
        subprocess.run(["bash", str(PEER_SCRIPT), str(n)], env=env, check=True, capture_output=True, text=True)
    summary = json.loads(PEER_RESULTS.read_text())["summary"]
    rates = {key: value["drain_per_s_median"] for key, value in summary.items() if key.startswith("p=")}
    return rates, 1000 * cpu.seconds / (n * len(configs.split()))


def commhub_round(n: int, extra_env: dict[str, str]) -> dict:
    """One commhub drain (bench/drain.py, a real `celery worker -c 2`) with `extra_env` on its side."""
    subprocess.run(
        [sys.executable, "bench/drain.py", "--n", str(n), "--runs", "1", "--modes", "worker", "--concurrency", "2"],
        cwd=ROOT,
        env={**os.environ, **extra_env},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads((RESULTS / "drain.json").read_text())["summary"]


MODES = {"batch": {}, "single": {"COMMHUB_ESP_BATCH_SIZE": "0"}}  # ESP batch sending on / one message per call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--commhub-env", action="append", default=[], help="NAME=VALUE for commhub's side")
    parser.add_argument("--modes", default="batch,single", help="commhub modes per round: batch, single")
    args = parser.parse_args()
    if not PEER_SCRIPT.exists():
        print(f"no peer at {PEER_SCRIPT}: nothing to compare against")
        return 1
    extra_env = dict(item.split("=", 1) for item in args.commhub_env)
    modes = args.modes.split(",")
    rounds = []
    for number in range(1, args.rounds + 1):
        defaults, default_cpu = peer_run(args.n, " ".join(DEFAULTS))
        tuned_rates, tuned_cpu = peer_run(args.n, TUNED)
        best_default, tuned = max(defaults.values()), max(tuned_rates.values())
        round_: dict = {
            "peer_defaults": defaults,
            "peer_tuned": tuned,
            "peer_default_cpu_ms": default_cpu,
            "peer_tuned_cpu_ms": tuned_cpu,
            "ok": True,
        }
        line = []
        for mode in modes:
            ours = commhub_round(args.n, {**MODES[mode], **extra_env})
            rate, cpu = ours["worker_per_s"], ours["worker_cpu_ms_per_message"]
            round_[mode] = {
                "rate": rate,
                "cpu_ms": cpu,
                "ratio_default": rate / best_default,
                "ratio_tuned": rate / tuned,
                "cpu_ratio_tuned": tuned_cpu / cpu,  # > 1: commhub spends less CPU per message
            }
            round_["ok"] = round_["ok"] and ours["ok"]
            line.append(f"commhub {mode} {rate:.0f}/s ({cpu:.2f} ms CPU) = {rate / tuned:.2f}x tuned")
        rounds.append(round_)
        log(
            f"round {number}/{args.rounds}: post_office defaults "
            f"{', '.join(f'{k} {v:.0f}/s' for k, v in defaults.items())}, "
            f"tuned {tuned:.0f}/s ({tuned_cpu:.2f} ms CPU) | " + " | ".join(line)
        )
    summary = {
        mode: {
            key: median([r[mode][key] for r in rounds]) for key in ("ratio_default", "ratio_tuned", "cpu_ratio_tuned")
        }
        for mode in modes
    }
    ok = all(r["ok"] for r in rounds)
    save("drain_vs_peer", {"n": args.n, "commhub_env": extra_env, "rounds": rounds, "summary": summary, "ok": ok})

    def figures(values: list[float], fmt: str = ".0f") -> str:
        return ", ".join(format(v, fmt) for v in values)

    print(f"=== drain side by side ({args.rounds} alternating rounds, N={args.n}, commhub env {extra_env or '-'}) ===")
    print(f"post_office best default per round: {figures([max(r['peer_defaults'].values()) for r in rounds])} /s")
    print(
        f"post_office tuned (-p 2, batch 1000): {figures([r['peer_tuned'] for r in rounds])} /s, "
        f"CPU {figures([r['peer_tuned_cpu_ms'] for r in rounds], '.2f')} ms/message"
    )
    for mode in modes:
        label = "ESP batch sending" if mode == "batch" else "one message per call"
        print(
            f"commhub worker -c 2, {label + ':':22s} {figures([r[mode]['rate'] for r in rounds])} /s, "
            f"CPU {figures([r[mode]['cpu_ms'] for r in rounds], '.2f')} ms/message"
        )
        s = summary[mode]
        print(
            f"  median: {s['ratio_tuned']:.2f}x post_office tuned, {s['ratio_default']:.2f}x its better default; "
            f"CPU per message, tuned / commhub: {s['cpu_ratio_tuned']:.2f}x"
        )
    verdict = "OK" if ok else "FAIL"
    print(f"check: every row sent with its provider id, the fake ESP saw exactly N, every round: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
