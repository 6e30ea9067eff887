#!/usr/bin/env python3
"""Turns bench/out/raw (loadgen JSON lines + meta.jsonl) into results.json and summary.md.

Usage: summarize.py RAW_DIR OUT_DIR   (called by bench/run.sh; standard library only)
"""
import datetime
import json
import os
import sys

TARGETS = ["direct", "bare", "llmflow", "llmflow_keepall"]


def load(raw, name):
    p = os.path.join(raw, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        text = f.read().strip()
    if not text:
        return None
    try:
        return json.loads(text.splitlines()[-1])
    except json.JSONDecodeError:
        return None


def meta(raw):
    out = {}
    p = os.path.join(raw, "meta.jsonl")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        d = json.loads(line)
                        out[d["key"]] = d["value"]
                    except (json.JSONDecodeError, KeyError):
                        pass
    return out


def ms(us):
    return None if us is None else round(us / 1000.0, 3)


def pct(d, key, p):
    if not d or not d.get(key):
        return None
    return d[key].get(p)


def fmt(v, unit="", digits=2):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def backlog(x):
    d = x.get("writer_queue_depth_at_end")
    if d is None:
        return ""
    return f"{d} (drained in {fmt(x.get('writer_drain_ms_after'), ' ms')})"


def signed(v, unit="", digits=3):
    if v is None:
        return "n/a"
    return f"{v:+.{digits}f}{unit}"


def main():
    raw, out_dir = sys.argv[1], sys.argv[2]
    m = meta(raw)
    cfg = m.get("config", {})
    concs = [int(c) for c in str(cfg.get("concurrency", "1 16 64")).split()]
    clk = m.get("clk_tck", 100)

    res = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "nproc": m.get("nproc"),
            "cpu_model": m.get("cpu_model"),
            "loadavg_start": m.get("loadavg_start"),
            "loadavg_end": m.get("loadavg_end"),
            "other_build_processes_at_start": m.get("other_build_processes"),
        },
        "git_rev": m.get("git_rev"),
        "config": cfg,
        "total_seconds": m.get("total_seconds"),
    }

    # ---- latency and throughput, per concurrency
    lat = {}
    for c in concs:
        row = {}
        for t in TARGETS:
            r = load(raw, f"lat_c{c}_{t}")
            if r is None:
                continue
            ticks = m.get(f"cpu_ticks_lat_c{c}_{t}")
            wticks = m.get(f"writer_ticks_lat_c{c}_{t}")
            cpu_us = writer_us = None
            if ticks is not None and r.get("all_requests"):
                cpu_us = round(ticks * (1e6 / clk) / r["all_requests"], 1)
                if t.startswith("llmflow") and wticks is not None:
                    writer_us = round(wticks * (1e6 / clk) / r["all_requests"], 1)
            row[t] = {
                "rps": r["rps"],
                "requests": r["requests"],
                "errors": r["errors"],
                "p50_ms": ms(pct(r, "latency_us", "p50")),
                "p90_ms": ms(pct(r, "latency_us", "p90")),
                "p99_ms": ms(pct(r, "latency_us", "p99")),
                "max_ms": ms(pct(r, "latency_us", "max")),
                "cpu_us_per_request": cpu_us,
                "writer_cpu_us_per_request": writer_us,
                "writer_queue_depth_at_end": m.get(f"queue_depth_end_lat_c{c}_{t}"),
                "writer_drain_ms_after": m.get(f"drain_ms_lat_c{c}_{t}"),
                "other_processes_cpu_pct": m.get(f"foreign_cpu_pct_lat_c{c}_{t}"),
                "waited_for_idle_s": m.get(f"quiet_wait_s_lat_c{c}_{t}"),
            }
        d = row.get("direct")
        for t in ("bare", "llmflow", "llmflow_keepall"):
            if d and t in row:
                x = row[t]
                x["added_p50_ms"] = round(x["p50_ms"] - d["p50_ms"], 3)
                x["added_p99_ms"] = round(x["p99_ms"] - d["p99_ms"], 3)
                x["rps_ratio_vs_direct"] = round(x["rps"] / d["rps"], 3) if d["rps"] else None
        lat[f"c{c}"] = row
    res["latency"] = lat

    # ---- TTFT
    ttft = {}
    for phase in ("empty", "big"):
        row = {}
        for t in TARGETS:
            r = load(raw, f"ttft_{phase}_{t}")
            if r is None:
                continue
            row[t] = {
                "requests": r["requests"],
                "errors": r["errors"],
                "ttft_p50_ms": ms(pct(r, "ttft_us", "p50")),
                "ttft_p99_ms": ms(pct(r, "ttft_us", "p99")),
                "ttft_max_ms": ms(pct(r, "ttft_us", "max")),
                "total_p50_ms": ms(pct(r, "latency_us", "p50")),
                "total_p99_ms": ms(pct(r, "latency_us", "p99")),
                "other_processes_cpu_pct": m.get(f"foreign_cpu_pct_ttft_{phase}_{t}"),
            }
        d = row.get("direct")
        for t in ("bare", "llmflow"):
            if d and t in row and row[t]["ttft_p50_ms"] is not None:
                row[t]["added_ttft_p50_ms"] = round(row[t]["ttft_p50_ms"] - d["ttft_p50_ms"], 3)
                row[t]["added_ttft_p99_ms"] = round(row[t]["ttft_p99_ms"] - d["ttft_p99_ms"], 3)
        if row:
            ttft["rows_0" if phase == "empty" else "rows_big"] = row
    res["ttft"] = ttft

    # ---- memory
    kib = lambda k: m.get(k)
    mem = {
        "llmflow_idle_empty_kib": kib("rss_idle_kib_empty"),
        "llmflow_idle_fresh_kib": [kib("rss_idle_kib_mem_sse"), kib("rss_idle_kib_mem_json")],
        "llmflow_idle_big_db_kib": kib("rss_idle_kib_big"),
        "bare_idle_kib": kib("rss_idle_kib_bare"),
        "llmflow_peak_during_latency_runs_kib": kib("rss_hwm_kib_after_load_llmflow"),
        "llmflow_after_latency_runs_kib": kib("rss_kib_after_load_llmflow"),
        "bare_peak_during_latency_runs_kib": kib("rss_hwm_kib_after_load_bare"),
    }
    big = {}
    for kind in ("sse", "json"):
        for t in TARGETS:
            r = load(raw, f"big_{kind}_{t}")
            if r is None:
                continue
            secs = (pct(r, "latency_us", "max") or 0) / 1e6
            big[f"{kind}_{t}"] = {
                "bytes": r["bytes"],
                "seconds": round(secs, 3),
                "mib_per_s": round(r["bytes"] / 1048576 / secs, 1) if secs else None,
                "peak_rss_kib": kib(f"rss_peak_kib_big_{kind}_{t}"),
                "rss_after_kib": kib(f"rss_after_kib_big_{kind}_{t}"),
            }
    mem["big_response"] = big
    mem["hwm_reset_failed"] = bool(m.get("hwm_reset_failed"))
    res["memory"] = mem

    # ---- big database
    seed = load(raw, "seed")
    bigdb = {
        "seed": seed,
        "db_file_bytes": m.get("db_bytes_big"),
        "startup_ms_empty": m.get("startup_ms_empty"),
        "startup_ms_big": m.get("startup_ms_big"),
        "api": {},
    }
    api_paths = {
        "traces": "/api/traces",
        "stats": "/api/stats",
        "models": "/api/models",
        "q_common": "/api/traces?q=weather",
        "q_rare": "/api/traces?q=zyzzyva",
        "model_filter": "/api/traces?model=gpt-4o-2024-08-06",
        "offset_deep": "/api/traces?offset=500000",
    }
    for k, path in api_paths.items():
        r = load(raw, f"api_{k}")
        if r is None:
            continue
        bigdb["api"][k] = {
            "path": path,
            "first_ms": ms(r.get("first_us")),
            "p50_ms": ms(pct(r, "latency_us", "p50")),
            "max_ms": ms(pct(r, "latency_us", "max")),
            "errors": r["errors"],
        }
    for t in ("direct", "llmflow"):
        r = load(raw, f"big_c64_{t}")
        if r is not None:
            bigdb.setdefault("c64", {})[t] = {
                "rps": r["rps"],
                "p50_ms": ms(pct(r, "latency_us", "p50")),
                "p99_ms": ms(pct(r, "latency_us", "p99")),
            }
            if t == "llmflow":
                wt = m.get("writer_ticks_big_c64_llmflow")
                if wt is not None and r.get("all_requests"):
                    bigdb["c64"][t]["writer_cpu_us_per_request"] = round(
                        wt * (1e6 / clk) / r["all_requests"], 1)
                bigdb["c64"][t]["writer_queue_depth_at_end"] = m.get("queue_depth_end_big_c64_llmflow")
                bigdb["c64"][t]["writer_drain_ms_after"] = m.get("drain_ms_big_c64_llmflow")
    c64 = bigdb.get("c64", {})
    if "direct" in c64 and "llmflow" in c64 and c64["direct"]["rps"]:
        c64["llmflow"]["rps_ratio_vs_direct"] = round(c64["llmflow"]["rps"] / c64["direct"]["rps"], 3)
    res["big_db"] = bigdb

    for name in ("health_after_load", "health_after_load_keepall", "health_big"):
        h = load(raw, name)
        if h:
            res[name] = {"writer": h.get("writer"), "database": h.get("database")}

    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")

    # ---- summary.md
    L = []
    w = L.append
    w("# llmflow benchmark results")
    w("")
    w(f"Generated {res['generated']} on {m.get('nproc')} cores ({m.get('cpu_model')}), "
      f"git {m.get('git_rev')}. Load average at start {m.get('loadavg_start')}, at end "
      f"{m.get('loadavg_end')}; rustc/cargo processes running at start: "
      f"{m.get('other_build_processes')}. Total run {m.get('total_seconds')} s.")
    w("")
    w(f"Each load point: {cfg.get('duration_s')} s after {cfg.get('warmup_s')} s warm-up, "
      f"closed loop, non-stream `POST /v1/chat/completions`; mock upstream "
      f"{cfg.get('mock_threads')} thread(s), load generator {cfg.get('loadgen_threads')} "
      f"thread(s), bare forwarder {cfg.get('forwarder_threads')} threads, all on the same cores. "
      "Ratios and added latencies are against `direct` measured in the same run. Single runs: "
      "read ratios as ±0.1.")
    w("")
    w("## Latency and throughput")
    w("")
    w("| conc | target | req/s | × direct | p50 ms | p99 ms | added p50 ms | added p99 ms | CPU µs/req (writer) | backlog at end | errors | other CPU % |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in concs:
        row = lat.get(f"c{c}", {})
        for t in TARGETS:
            x = row.get(t)
            if not x:
                continue
            w(f"| {c} | {t} | {fmt(x['rps'], digits=0)} | {fmt(x.get('rps_ratio_vs_direct', 1.0 if t == 'direct' else None), '×')} "
              f"| {fmt(x['p50_ms'], digits=3)} | {fmt(x['p99_ms'], digits=3)} | {signed(x.get('added_p50_ms'))} "
              f"| {signed(x.get('added_p99_ms'))} | {fmt(x['cpu_us_per_request'], digits=1)}"
              + (f" ({fmt(x['writer_cpu_us_per_request'], digits=1)})" if x.get('writer_cpu_us_per_request') is not None else "")
              + f" | {backlog(x)} | {x['errors']} | {fmt(x.get('other_processes_cpu_pct'))} |")
    w("")
    w("`llmflow` runs with its defaults (MAX_TRACES=10000: once 10k traces are stored, every "
      "commit also deletes the oldest traces); `llmflow_keepall` is the same binary with "
      "MAX_TRACES=0 (no retention deletes). CPU is the proxy process's user+system time per "
      "request (warm-up included), in brackets the part spent on the store's writer thread. "
      "Backlog: records still queued for the writer when the load stopped. Other CPU %: share of "
      "the machine's CPU used by processes this script did not start during the point (each point "
      "waits for ≥85% idle first); above a few % the point is disturbed.")
    w("")
    for key, label in (("health_after_load", "llmflow"), ("health_after_load_keepall", "llmflow_keepall")):
        ha = (res.get(key) or {}).get("writer") or {}
        if ha:
            w(f"- {label} writer after the load runs: written {ha.get('written')}, dropped "
              f"{ha.get('dropped')}, write errors {ha.get('write_errors')}, pruned traces "
              f"{ha.get('pruned_traces')}.")
    w("")
    w("## Time to first byte of a stream (c=1, sequential)")
    w("")
    w("| database | target | TTFT p50 ms | TTFT p99 ms | added p50 ms | added p99 ms | whole stream p50 ms | other CPU % |")
    w("|---|---|---|---|---|---|---|---|")
    for phase, label in (("rows_0", "empty"), ("rows_big", f"{cfg.get('rows')} rows")):
        for t in TARGETS:
            x = ttft.get(phase, {}).get(t)
            if not x:
                continue
            w(f"| {label} | {t} | {fmt(x['ttft_p50_ms'], digits=3)} | {fmt(x['ttft_p99_ms'], digits=3)} "
              f"| {signed(x.get('added_ttft_p50_ms'))} | {signed(x.get('added_ttft_p99_ms'))} | {fmt(x['total_p50_ms'], digits=3)} "
              f"| {fmt(x.get('other_processes_cpu_pct'))} |")
    w("")
    w("## Memory (RSS)")
    w("")
    mib = lambda k: None if k is None else round(k / 1024, 1)
    w(f"- llmflow idle after start, empty database: **{fmt(mib(mem['llmflow_idle_empty_kib']), ' MiB', 1)}** "
      f"(fresh instances before the big responses: {', '.join(fmt(mib(v), ' MiB', 1) for v in mem['llmflow_idle_fresh_kib'])}); "
      f"with the big database: {fmt(mib(mem['llmflow_idle_big_db_kib']), ' MiB', 1)}")
    w(f"- bare forwarder idle: {fmt(mib(mem['bare_idle_kib']), ' MiB', 1)}")
    w(f"- peak during the latency runs: llmflow {fmt(mib(mem['llmflow_peak_during_latency_runs_kib']), ' MiB', 1)}, "
      f"bare {fmt(mib(mem['bare_peak_during_latency_runs_kib']), ' MiB', 1)}; llmflow after them "
      f"{fmt(mib(mem['llmflow_after_latency_runs_kib']), ' MiB', 1)}")
    w("")
    big_mib = round((cfg.get("big_bytes") or 0) / 1048576)
    w(f"One {big_mib} MiB response through a freshly started llmflow (its peak RSS = VmHWM is this "
      "response's; the bare forwarder's VmHWM is reset just before via /proc/PID/clear_refs):")
    w("")
    w("| body | target | peak RSS MiB | RSS after MiB | seconds | MiB/s |")
    w("|---|---|---|---|---|---|")
    for kind in ("sse", "json"):
        for t in TARGETS:
            x = big.get(f"{kind}_{t}")
            if not x:
                continue
            w(f"| {'SSE stream' if kind == 'sse' else 'JSON body'} | {t} | {fmt(mib(x['peak_rss_kib']), digits=1)} "
              f"| {fmt(mib(x['rss_after_kib']), digits=1)} | {fmt(x['seconds'], digits=3)} | {fmt(x['mib_per_s'], digits=0)} |")
    if mem["hwm_reset_failed"]:
        w("")
        w("**Warning:** resetting VmHWM failed; peaks include earlier activity.")
    w("")
    if cfg.get("rows"):
        w(f"## Big database ({cfg.get('rows')} rows)")
        w("")
        if seed:
            w(f"- seeded through `Store::submit` (llmflow's own writer): {seed.get('rows')} rows in "
              f"{seed.get('seconds')} s = **{fmt(seed.get('rows_per_s'), ' rows/s', 0)}**; file "
              f"{fmt(round((bigdb['db_file_bytes'] or 0) / 1048576), ' MiB')}")
        w(f"- llmflow start to first `/health` answer: empty {fmt(bigdb['startup_ms_empty'], ' ms')}, "
          f"big {fmt(bigdb['startup_ms_big'], ' ms')}")
        if "llmflow" in c64:
            x = c64["llmflow"]
            w(f"- c=64 at this size (MAX_TRACES=0): direct {fmt(c64['direct']['rps'], digits=0)} req/s, llmflow "
              f"{fmt(x['rps'], digits=0)} req/s = **{fmt(x.get('rps_ratio_vs_direct'), '×')}**, "
              f"llmflow p99 {fmt(x['p99_ms'], ' ms', 3)}; writer CPU {fmt(x.get('writer_cpu_us_per_request'), ' µs', 1)}/request; "
              f"backlog at end {x.get('writer_queue_depth_at_end')} (drained in {fmt(x.get('writer_drain_ms_after'), ' ms')})")
        w("")
        w("| endpoint | first (cold) ms | p50 ms | max ms |")
        w("|---|---|---|---|")
        for k, x in bigdb["api"].items():
            w(f"| `{x['path']}` | {fmt(x['first_ms'], digits=2)} | {fmt(x['p50_ms'], digits=2)} | {fmt(x['max_ms'], digits=2)} |")
        w("")
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
