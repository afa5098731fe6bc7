// req-llm-gateway usage dashboard: polls ../v1/usage (relative to where the gateway is mounted) and draws
// the table, totals and SVG charts. No dependencies, no build step.
"use strict";
(function () {
  const POLL_MS = 2000;
  const base = location.pathname.replace(/\/dashboard\/req_llm\/?$/, "");
  const usageUrl = base + "/v1/usage";
  const budgetsUrl = base + "/v1/budgets";
  const hashKey = new URLSearchParams(location.hash.slice(1)).get("key");
  if (hashKey) { sessionStorage.setItem("req_llm_gateway_key", hashKey); history.replaceState(null, "", location.pathname + location.search); }
  const apiKey = sessionStorage.getItem("req_llm_gateway_key");
  const $ = (sel) => document.querySelector(sel);
  const form = $("#filters");
  const COLORS = ["#3867d6", "#20bf6b", "#f7b731", "#8854d0", "#fa8231", "#0fb9b1", "#4b6584", "#eb3b5a"];
  const live = [];  // [time label, calls since previous poll]
  let lastCalls = null, lastRows = new Map(), timer = null, inflight = false;

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const int = (n) => Number(n).toLocaleString("en-US");
  const ms = (n) => Number(n).toLocaleString("en-US", { maximumFractionDigits: Number(n) < 10 ? 2 : 0 }) + " ms";
  const pct = (n) => (Number(n) * 100).toLocaleString("en-US", { maximumFractionDigits: 1 }) + "%";
  const compact = (n) => Number(n).toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 });

  // Money arrives as an exact decimal string; round half up to 6 places with BigInt, never through a float.
  function money(s) {
    const neg = s.startsWith("-"); const [i, f = ""] = (neg ? s.slice(1) : s).split(".");
    const scaled = BigInt(i + (f + "0000000").slice(0, 7));
    const r = (scaled + 5n) / 10n;
    if (r === 0n && /[1-9]/.test(f)) return "<$0.000001";
    const str = r.toString().padStart(7, "0");
    let out = str.slice(0, -6) + "." + str.slice(-6);
    out = out.replace(/0{1,4}$/, "");  // keep at least 2 decimals
    return (neg ? "-$" : "$") + out.replace(/^(\d+)/, (m) => Number(m).toLocaleString("en-US"));
  }

  // Exact sum of two decimal strings (costs are summed for the per-model bars without float error).
  function decAdd(a, b) {
    const scale = Math.max((a.split(".")[1] || "").length, (b.split(".")[1] || "").length);
    const big = (s) => { const [i, f = ""] = s.split("."); return BigInt(i + f.padEnd(scale, "0")); };
    const str = (big(a) + big(b)).toString().padStart(scale + 1, "0");
    return scale ? str.slice(0, -scale) + "." + str.slice(-scale) : str;
  }

  function params() {
    const p = new URLSearchParams({ limit: "10000" });
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    return p;
  }

  async function poll() {
    clearTimeout(timer);
    if (inflight) return;
    inflight = true;
    try {
      const res = await fetch(usageUrl + "?" + params(), { headers: apiKey ? { Authorization: "Bearer " + apiKey } : {}, cache: "no-store" });
      const data = await res.json();
      if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
      render(data);
      await budgets();
      $("#status").classList.remove("stale");
      $("#status-text").textContent = "live · updated " + new Date().toLocaleTimeString();
    } catch (err) {
      $("#status").classList.add("stale");
      $("#status-text").textContent = "not updating: " + err.message;
    } finally {
      inflight = false;
      timer = setTimeout(poll, document.hidden ? POLL_MS * 5 : POLL_MS);
    }
  }

  // Each budget of the key the page reads with, as a bar: spent (solid) and held (light) of the limit.
  async function budgets() {
    const res = await fetch(budgetsUrl, { headers: apiKey ? { Authorization: "Bearer " + apiKey } : {}, cache: "no-store" });
    const el = $("#budgets");
    if (!res.ok) { el.hidden = true; return; }
    const items = (await res.json()).data || [];
    el.hidden = !items.length;
    el.innerHTML = items.map((b) => {
      const limit = Number(b.limit_usd) || 0;
      const share = (v) => (limit ? Math.min(100, (Number(v) / limit) * 100) : 100).toFixed(2);
      const who = `${b.scope} ${b.name} · ${b.window}` + (b.model ? ` · ${b.model}` : "");
      const reset = b.resets_at ? "resets " + new Date(b.resets_at).toLocaleString() : "never resets";
      return `<div class="budget" data-scope="${esc(b.scope)}" data-name="${esc(b.name)}" data-window="${esc(b.window)}">` +
        `<div class="budget-head"><b>${esc(who)}</b><span class="budget-spent">${money(b.spent_usd)} of ${money(b.limit_usd)}</span>` +
        `<span class="budget-reset" data-resets-at="${esc(b.resets_at || "")}">${esc(reset)}</span></div>` +
        `<div class="budget-track"><div class="budget-bar" style="width:${share(b.spent_usd)}%"></div>` +
        `<div class="budget-held" style="width:${share(b.held_usd)}%"></div></div></div>`;
    }).join("");
  }

  function render(data) {
    const rows = data.rows, t = data.totals;
    cards(t);
    options(rows);
    table(rows, t, data.truncated);
    overTime(rows);
    perModel(rows);
    if (lastCalls !== null) live.push([new Date().toLocaleTimeString(), Math.max(0, t.calls - lastCalls)]);
    if (live.length > 90) live.shift();
    lastCalls = t.calls;
    lineChart($("#chart-live"), live.map((p) => p[0]), live.map((p) => p[1]), COLORS[0], int, "waiting for the next poll…", 110);
  }

  function cards(t) {
    const items = [["Requests", int(t.calls)], ["Errors", int(t.errors) + " (" + pct(t.error_rate) + ")"],
      ["Prompt tokens", int(t.prompt_tokens)], ["Completion tokens", int(t.completion_tokens)],
      ["Total tokens", int(t.total_tokens)], ["Cost (USD)", money(t.cost_usd)], ["Avg latency", ms(t.avg_latency_ms)]];
    $("#cards").innerHTML = items.map(([k, v]) => `<div class="card"><b>${esc(v)}</b><span>${esc(k)}</span></div>`).join("");
  }

  function options(rows) {
    for (const [name, values] of [["provider", rows.map((r) => r.provider)], ["model", rows.map((r) => r.model)]]) {
      const sel = form.elements[name], keep = sel.value;
      const known = new Set([...sel.options].map((o) => o.value));
      for (const v of [...new Set(values)].sort()) if (!known.has(v)) sel.add(new Option(v, v));
      sel.value = keep;
    }
  }

  function table(rows, t, truncated) {
    const fresh = new Map();
    $("#usage tbody").innerHTML = rows.map((r) => {
      const key = [r.date, r.provider, r.model, r.key_name].join("\u0000");
      fresh.set(key, r.calls);
      const cls = lastRows.size && lastRows.get(key) !== r.calls ? ' class="fresh"' : "";
      return `<tr${cls} data-provider="${esc(r.provider)}" data-model="${esc(r.model)}"><td>${esc(r.date)}</td><td>${esc(r.provider)}</td>` +
        `<td>${esc(r.model)}${r.key_name ? ` <small>(${esc(r.key_name)})</small>` : ""}</td><td class="n">${int(r.calls)}</td>` +
        `<td class="n">${int(r.prompt_tokens)}</td><td class="n">${int(r.completion_tokens)}</td><td class="n">${int(r.total_tokens)}</td>` +
        `<td class="n">${money(r.cost_usd)}${r.unpriced_calls ? " *" : ""}</td><td class="n">${ms(r.avg_latency_ms)}</td>` +
        `<td class="n">${int(r.errors)}</td></tr>`;
    }).join("") || `<tr><td colspan="10" class="note">No usage yet: make a request and it appears here.</td></tr>`;
    lastRows = fresh;
    $("#usage tfoot").innerHTML = `<tr><td colspan="3">Total</td><td class="n">${int(t.calls)}</td><td class="n">${int(t.prompt_tokens)}</td>` +
      `<td class="n">${int(t.completion_tokens)}</td><td class="n">${int(t.total_tokens)}</td><td class="n">${money(t.cost_usd)}</td>` +
      `<td class="n">${ms(t.avg_latency_ms)}</td><td class="n">${int(t.errors)}</td></tr>`;
    const notes = [];
    if (t.unpriced_calls) notes.push(`* ${int(t.unpriced_calls)} calls to models without a known price are not in the cost.`);
    if (truncated) notes.push("Only the newest rows are listed; the totals cover all of them.");
    $("#note").textContent = notes.join(" ");
  }

  function group(rows, keyOf) {
    const m = new Map();
    for (const r of rows) {
      const k = keyOf(r);
      const g = m.get(k) || { calls: 0, errors: 0, prompt: 0, completion: 0, money: "0", cost: 0, latency: 0 };
      g.calls += r.calls; g.errors += r.errors; g.prompt += r.prompt_tokens; g.completion += r.completion_tokens;
      g.money = decAdd(g.money, r.cost_usd); g.cost = parseFloat(g.money); g.latency += r.total_latency_ms;
      m.set(k, g);
    }
    return m;
  }

  function overTime(rows) {
    const days = [...group(rows, (r) => r.date)].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const labels = days.map(([d]) => d.slice(5));
    const g = days.map(([, v]) => v);
    barChart($("#chart-requests"), labels, [{ values: g.map((v) => v.calls - v.errors), color: COLORS[0] }, { values: g.map((v) => v.errors), color: "#eb3b5a" }], int);
    barChart($("#chart-tokens"), labels, [{ values: g.map((v) => v.prompt), color: COLORS[0] }, { values: g.map((v) => v.completion), color: COLORS[1] }], compact);
    barChart($("#chart-cost"), labels, [{ values: g.map((v) => v.cost), color: COLORS[2] }], (x) => "$" + Number(x.toPrecision(2)));
    lineChart($("#chart-latency"), labels, g.map((v) => (v.calls ? v.latency / v.calls : 0)), COLORS[3], (x) => ms(x));
  }

  function perModel(rows) {
    const models = [...group(rows, (r) => r.provider + ":" + r.model)].sort((a, b) => b[1].calls - a[1].calls).slice(0, 12);
    const bars = (el, f, fmt, color) => hbars(el, models.map(([k, v]) => ({ label: k, value: f(v), text: fmt(f(v)) })), color);
    bars($("#bars-requests"), (v) => v.calls, int, COLORS[0]);
    bars($("#bars-tokens"), (v) => v.prompt + v.completion, compact, COLORS[1]);
    hbars($("#bars-cost"), models.map(([k, v]) => ({ label: k, value: v.cost, text: money(v.money) })), COLORS[2]);
    bars($("#bars-latency"), (v) => (v.calls ? v.latency / v.calls : 0), ms, COLORS[3]);
    bars($("#bars-errors"), (v) => (v.calls ? v.errors / v.calls : 0), pct, "#eb3b5a");
  }

  const PAD = { l: 62, r: 10, t: 8, b: 22 };
  let W = 360, H = 150;
  // Draw at the element's real width, so 10px text stays 10px whatever the layout.
  const size = (el, h) => { W = Math.max(260, Math.round(el.clientWidth || 360)); H = h || 150; };

  function axis(max, fmt) {
    const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / max);
    return [0, 0.5, 1].map((f) => `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(max * f)}" y2="${y(max * f)}" stroke="#e3e6ec"/>` +
      `<text x="${PAD.l - 4}" y="${y(max * f) + 3}" text-anchor="end">${esc(fmt(max * f))}</text>`).join("");
  }

  function xLabels(labels, x) {
    const step = Math.ceil(labels.length / 8);
    return labels.map((l, i) => (i % step ? "" : `<text x="${x(i)}" y="${H - 6}" text-anchor="middle">${esc(l)}</text>`)).join("");
  }

  function svg(el, body, empty) {
    el.innerHTML = body === null ? `<div class="empty">${esc(empty || "no data yet")}</div>`
      : `<svg viewBox="0 0 ${W} ${H}" role="img">${body}</svg>`;
  }

  function barChart(el, labels, series, fmt) {
    size(el);
    if (!labels.length) return svg(el, null);
    const totals = labels.map((_, i) => series.reduce((s, ser) => s + ser.values[i], 0));
    const max = Math.max(...totals) || 1, n = labels.length, band = (W - PAD.l - PAD.r) / n;
    const bw = Math.max(2, Math.min(40, band * 0.7)), x = (i) => PAD.l + band * (i + 0.5);
    const h = (v) => (H - PAD.t - PAD.b) * (v / max);
    let out = axis(max, fmt);
    labels.forEach((l, i) => {
      let top = H - PAD.b;
      for (const ser of series) {
        const hh = h(ser.values[i]); top -= hh;
        if (hh > 0) out += `<rect class="bar" x="${x(i) - bw / 2}" y="${top}" width="${bw}" height="${hh}" fill="${ser.color}"><title>${esc(l)}: ${esc(fmt(ser.values[i]))}</title></rect>`;
      }
    });
    svg(el, out + xLabels(labels, x));
  }

  function lineChart(el, labels, values, color, fmt, empty, height) {
    size(el, height);
    if (!values.length) return svg(el, null, empty);
    const max = Math.max(...values) || 1, n = values.length;
    const x = (i) => (n === 1 ? (PAD.l + W - PAD.r) / 2 : PAD.l + ((W - PAD.l - PAD.r) * i) / (n - 1));
    const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / max);
    const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const dots = values.map((v, i) => `<circle cx="${x(i)}" cy="${y(v)}" r="2.5" fill="${color}"><title>${esc(labels[i])}: ${esc(fmt(v))}</title></circle>`).join("");
    svg(el, axis(max, fmt) + `<polyline class="line" points="${pts}" fill="none" stroke="${color}" stroke-width="2"/>` + dots + xLabels(labels, x));
  }

  function hbars(el, items, color) {
    size(el);
    if (!items.length) return svg(el, null);
    const rowH = 18, h = items.length * rowH + 4, labelW = Math.min(170, W * 0.45), max = Math.max(...items.map((i) => i.value)) || 1;
    const body = items.map((it, i) => {
      const w = ((W - labelW - 70) * it.value) / max, y = 2 + i * rowH;
      const label = it.label.length > 26 ? it.label.slice(0, 25) + "…" : it.label;
      return `<text x="${labelW - 4}" y="${y + 12}" text-anchor="end">${esc(label)}</text>` +
        `<rect class="bar" x="${labelW}" y="${y + 2}" width="${Math.max(w, it.value > 0 ? 1 : 0)}" height="${rowH - 5}" fill="${color}"><title>${esc(it.label)}</title></rect>` +
        `<text x="${labelW + w + 4}" y="${y + 12}">${esc(it.text)}</text>`;
    }).join("");
    el.innerHTML = `<svg viewBox="0 0 ${W} ${h}" role="img">${body}</svg>`;
  }

  form.addEventListener("change", () => { lastCalls = null; lastRows = new Map(); poll(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
  poll();
})();
