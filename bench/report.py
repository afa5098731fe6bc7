"""Turn measured cells into per-target summaries and markdown tables."""

from __future__ import annotations

from typing import Any

NOISE_NOTE = (
    "> On a shared or noisy machine, absolute requests/s and latencies drift between runs; the figures that "
    "matter are CPU ms per request (metered from /proc for the target's whole process tree) and the ratios "
    "between targets within one run (all targets are interleaved cell by cell, so drift hits them alike)."
)
MIN_CPU_S = 0.2  # cells with less target CPU than this (20 clock ticks) are too coarse for a range


def _fmt(v: float | None, nd: int = 2) -> str:
    if v is None or v != v:  # None or NaN
        return "-"
    return f"{v:.{nd}f}"


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def summarize(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cells, streams = results["cells"], results["streams"]
    out: dict[str, dict[str, Any]] = {}
    for name, info in results["targets"].items():
        if info.get("status") != "ok":
            continue
        mine = [c for c in cells if c["target"] == name and c["requests"] > 0]
        zero = [c for c in mine if c["latency_ms"] == 0]
        s: dict[str, Any] = {"startup_s": info.get("startup_s"), "peak_rss_mb": info.get("peak_rss_mb")}
        reqs = sum(c["requests"] for c in zero)
        s["cpu_ms_per_req"] = 1000 * sum(c["cpu_s"] for c in zero) / reqs if reqs else None
        fine = [c["cpu_ms_per_req"] for c in mine if c["cpu_s"] >= MIN_CPU_S]
        s["cpu_ms_per_req_range"] = [min(fine), max(fine)] if fine else None
        s["max_rps"] = max((c["rps"] for c in zero), default=None)
        for lat in sorted({c["latency_ms"] for c in mine}):
            c1 = _find(mine, latency_ms=lat, concurrency=1)
            s[f"added_p50_ms_c1_lat{lat:g}"] = c1.get("added_p50_ms") if c1 else None
        st = [x for x in streams if x["target"] == name and x["streams"] > 0]
        n = sum(x["streams"] for x in st)
        s["cpu_ms_per_stream"] = 1000 * sum(x["cpu_s"] for x in st) / n if n else None
        s1 = _find(st, concurrency=1)
        s["ttft_p50_ms_c1"] = s1["ttft_p50_ms"] if s1 else None
        s["added_ttft_ms_c1"] = s1.get("added_ttft_ms") if s1 else None
        out[name] = s
    gw = out.get("gateway", {}).get("cpu_ms_per_req")
    for s in out.values():
        s["cpu_x_gateway"] = s["cpu_ms_per_req"] / gw if gw and s["cpu_ms_per_req"] else None
    if "gateway" in out and "gateway-w2" in out:
        one, two = out["gateway"]["max_rps"], out["gateway-w2"]["max_rps"]
        out["gateway-w2"]["rps_x_one_worker"] = two / one if one and two else None
    return out


def add_deltas(results: dict[str, Any]) -> None:
    """Fill added_p50/p99 (non-stream) and added_ttft (streams) against `direct` in the same cell."""
    for c in results["cells"]:
        d = _find(results["cells"], target="direct", latency_ms=c["latency_ms"], concurrency=c["concurrency"])
        if d and c["requests"] and d["requests"]:
            c["added_p50_ms"] = c["p50_ms"] - d["p50_ms"]
            c["added_p99_ms"] = c["p99_ms"] - d["p99_ms"]
    for x in results["streams"]:
        d = _find(results["streams"], target="direct", latency_ms=x["latency_ms"], concurrency=x["concurrency"])
        if d and x["streams"] and d["streams"]:
            x["added_ttft_ms"] = x["ttft_p50_ms"] - d["ttft_p50_ms"]


def markdown(results: dict[str, Any]) -> str:
    meta, summary = results["meta"], results["summary"]
    lines = [f"# req-llm-gateway benchmark ({meta['mode']} mode, {meta['started']})", "", NOISE_NOTE, ""]
    lines += [f"Machine: {meta['cpus']} CPUs ({meta['cpu_model']}), kernel {meta['kernel']}. Targets pinned to "
              f"core {meta['target_cpus']}; wrk, the stream client and the mock on core {meta['load_cpus']}. "
              f"{meta['cell_seconds']:g} s per cell; streams: {meta['chunks']} chunks, "
              f"{meta['chunk_interval_ms']:g} ms apart, usage chunk on.", ""]
    lines += ["## Summary", "",
              "| target | CPU ms/req | range | x gateway | CPU ms/stream | +p50 c=1 (ms) | +TTFT c=1 (ms) "
              "| max req/s | peak RSS MB | start-up s |", "|" + "---|" * 10]
    for name, info in results["targets"].items():
        if info.get("status") != "ok":
            lines.append(f"| {name} | skipped: {info.get('status')} |" + " |" * 8)
            continue
        s = summary[name]
        rng = s["cpu_ms_per_req_range"]
        rps = _fmt(s["max_rps"], 0) + (f" ({s['rps_x_one_worker']:.2f}x 1 worker)" if s.get("rps_x_one_worker") else "")
        label = name + (" (mock CPU)" if name == "direct" else "")
        lines.append(
            f"| {label} | {_fmt(s['cpu_ms_per_req'], 3)} | {_fmt(rng[0], 3) + '-' + _fmt(rng[1], 3) if rng else '-'} "
            f"| {_fmt(s['cpu_x_gateway'], 1)} | {_fmt(s['cpu_ms_per_stream'], 2)} | {_fmt(s.get('added_p50_ms_c1_lat0'), 2)} "
            f"| {_fmt(s['added_ttft_ms_c1'], 2)} | {rps} | {_fmt(s['peak_rss_mb'], 0)} | {_fmt(s['startup_s'], 2)} |")
    lines += ["", "CPU ms/req: all latency-0 cells pooled; range: cells with at least "
              f"{MIN_CPU_S:g} s of target CPU. +p50/+TTFT: over `direct` in the same cell. x gateway: CPU ms/req "
              "over our gateway's. Start-up: spawn to first answered chat completion.", ""]
    if "gateway-w2" in summary and (meta["cpus"] or 0) < 4:
        lines += [f"gateway-w2 runs on all {meta['cpus']} cores, sharing them with wrk and the mock, so its req/s "
                  "cannot reach 2x one worker's here; equal CPU ms/req with more req/s is what shows it scales.", ""]
    lines += ["## Non-stream requests", "",
              "| target | upstream ms | conc | req/s | p50 ms | p99 ms | +p50 | +p99 | CPU ms/req | errors | core busy % (load/target) |",
              "|" + "---|" * 11]
    for c in sorted(results["cells"], key=lambda c: (c["latency_ms"], c["concurrency"], _order(results, c["target"]))):
        busy = c.get("core_busy", {})
        lines.append(
            f"| {c['target']} | {c['latency_ms']:g} | {c['concurrency']} | {_fmt(c['rps'], 0)} | {_fmt(c['p50_ms'])} "
            f"| {_fmt(c['p99_ms'])} | {_fmt(c.get('added_p50_ms'))} | {_fmt(c.get('added_p99_ms'))} "
            f"| {_fmt(c['cpu_ms_per_req'], 3)} | {c['errors']} | {_busy(busy, meta)} |")
    lines += ["", "## 20-chunk streams" if meta["chunks"] == 20 else f"## {meta['chunks']}-chunk streams", "",
              "| target | upstream ms | conc | streams/s | TTFT p50 ms | TTFT p99 ms | +TTFT | stream p50 ms "
              "| CPU ms/stream | errors | incomplete |", "|" + "---|" * 11]
    for x in sorted(results["streams"], key=lambda x: (x["latency_ms"], x["concurrency"], _order(results, x["target"]))):
        lines.append(
            f"| {x['target']} | {x['latency_ms']:g} | {x['concurrency']} | {_fmt(x['streams_per_s'], 1)} "
            f"| {_fmt(x['ttft_p50_ms'])} | {_fmt(x['ttft_p99_ms'])} | {_fmt(x.get('added_ttft_ms'))} "
            f"| {_fmt(x['total_p50_ms'])} | {_fmt(x['cpu_ms_per_stream'], 2)} | {x['errors']} | {x['incomplete']} |")
    failed = [x for x in results["streams"] if x.get("first_error")]
    if failed:
        lines += ["", "First stream error per failing cell:", ""]
        lines += [f"- {x['target']} c={x['concurrency']}: {x['errors']} errors; `{x['first_error'][:300]}`" for x in failed]
    if results.get("routes"):
        lines += ["", "## The gateway's other API routes (upstream 0 ms, concurrency 16)", "",
                  "Each route's cells run right after a chat cell of the same shape (`chat (reference)`); x chat "
                  "compares with that one.", "",
                  "| route | path | CPU ms/req | x chat | CPU ms/stream | x chat stream | errors | status |",
                  "|" + "---|" * 8]
        chat: float | None = None
        chat_stream: float | None = None
        for r in results["routes"]:
            cpu, stream = r.get("cpu_ms_per_req"), r.get("cpu_ms_per_stream")
            if r["route"] == "chat (reference)":
                chat, chat_stream = cpu, stream
            ratio = _fmt(cpu / chat if cpu and chat and r["route"] != "chat (reference)" else None, 2)
            sratio = _fmt(stream / chat_stream if stream and chat_stream and r["route"] != "chat (reference)" else None, 2)
            lines.append(f"| {r['route']} | `{r['path']}` | {_fmt(cpu, 3)} | {ratio} "
                         f"| {_fmt(stream, 2)} | {sratio} | {r.get('errors', '-')}"
                         f"{'/' + str(r['stream_errors']) if 'stream_errors' in r else ''} | {r.get('status')} |")
    if meta.get("loadavg_start"):
        lines += ["", f"Machine load (1-minute load average) at start {meta['loadavg_start']}, at end "
                  f"{meta.get('loadavg_end', '-')}; the last column of the non-stream table is each cell's busy % of "
                  "the load core and the target core, everything on them included."]
    lines += ["", NOISE_NOTE, ""]
    return "\n".join(lines)


def _order(results: dict[str, Any], name: str) -> int:
    return list(results["targets"]).index(name)


def _busy(busy: dict[str, float], meta: dict[str, Any]) -> str:
    load = busy.get(str(meta["load_cpus"]).split(",")[0])
    tgt = busy.get(str(meta["target_cpus"]).split(",")[0])
    return f"{_fmt(load, 0)}/{_fmt(tgt, 0)}"
