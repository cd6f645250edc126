"""Print one table of the latest bench/results/*.json, with ratios against the same-run baselines."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    default, tuned, side = load("drain_default"), load("drain_tuned"), load("drain_vs_peer")
    api, batch, peer = load("api_single"), load("batch_ingest"), load("peer")
    print("\n=== commhub benchmark summary (same session; ratios are what to quote) ===")
    po = {}
    if peer:
        for key, value in peer["summary"].items():
            if key.startswith("p="):
                po[key] = value["drain_per_s_median"]
        po_default_1 = po.get("p=1,threads=-,batch=-")
        po_default_2 = po.get("p=2,threads=-,batch=-")
        po_tuned = po.get("p=2,threads=-,batch=1000")
        print(
            f"post_office send_queued_mail: -p 1 {po_default_1:.0f}/s, -p 2 {po_default_2:.0f}/s (defaults), "
            f"-p 2 batch 1000 {po_tuned:.0f}/s (tuned); ingest mail.send {peer['summary']['ingest_per_s_median']:.0f}/s"
        )
    if default:
        s = default["summary"]
        line = (
            f"commhub drain_queue (1 process): {s['drain_queue_per_s']:.0f}/s; "
            f"worker -c 2 x 8 threads: {s['worker_per_s']:.0f}/s"
        )
        print(line + f" (peak RSS {s['worker_peak_rss_mb']:.0f} MB)")
        if po:
            best_default = max(po_default_1, po_default_2)
            print(
                f"  worker (default config) / post_office best default = {s['worker_per_s'] / best_default:.2f}x; "
                f"drain_queue / post_office -p 1 = {s['drain_queue_per_s'] / po_default_1:.2f}x"
            )
    if side:
        rounds = side["rounds"]
        ours = ", ".join(f"{r['commhub_worker']:.0f}" for r in rounds)
        theirs = ", ".join(f"{max(r['peer'].values()):.0f}" for r in rounds)
        print(
            f"drain side by side ({len(rounds)} alternating rounds): commhub worker {ours}/s vs post_office "
            f"best default {theirs}/s -> median ratio {side['median_ratio']:.2f}x"
        )
    if tuned:
        s = tuned["summary"]
        print(
            f"commhub worker tuned (-c 4 x 1 thread): {s['worker_per_s']:.0f}/s "
            f"(peak RSS {s['worker_peak_rss_mb']:.0f} MB)"
        )
        if po:
            print(f"  tuned / post_office tuned = {s['worker_per_s'] / po_tuned:.2f}x")
    if api:
        s = api["summary"]
        print(
            f"single-send API: baseline {s['baseline']['rps']:.0f} req/s (p50 {s['baseline']['p50_ms']:.1f} ms, "
            f"p99 {s['baseline']['p99_ms']:.1f} ms); commhub {s['commhub']['rps']:.0f} req/s "
            f"(p50 {s['commhub']['p50_ms']:.1f} ms, p99 {s['commhub']['p99_ms']:.1f} ms); "
            f"ratio {s['ratio_commhub_vs_baseline']:.2f}x (contract {s['ratio_contract_vs_baseline']:.2f}x)"
        )
    if batch:
        po_ingest = peer["summary"]["ingest_per_s_median"] if peer else 1.0
        print(
            f"batch ingest: v1 {batch['commhub']['per_s']:.0f}/s, contract {batch['contract']['per_s']:.0f}/s, "
            f"single sends {batch['single_sends']['per_s']:.0f}/s, insert floor {batch['insert_floor_per_s']:.0f}/s"
            + (f"; v1 batch / post_office mail.send = {batch['commhub']['per_s'] / po_ingest:.1f}x" if peer else "")
        )


if __name__ == "__main__":
    main()
