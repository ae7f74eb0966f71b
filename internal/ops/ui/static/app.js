// topspeed dashboard: polls /api/v1/* every 2 s and draws the views.
// No library, no external request. The savepoint token lives only in
// this tab (sessionStorage) and goes only to POST /api/v1/savepoints.
"use strict";
(function () {
  const REFRESH_MS = 2000;
  const CK_ROWS = 10; // checkpoints shown (the API keeps 32)
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(id, v) { const e = $(id); if (e && e.textContent !== String(v)) e.textContent = v; }
  function num(v) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
    return v.toFixed(1);
  }
  function bytes(b) {
    if (!b) return "–";
    const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + " " + u[i];
  }
  function dur(s) {
    if (s === null || s === undefined) return "–";
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 120) return s.toFixed(1) + " s";
    const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d) return d + "d " + (h % 24) + "h";
    if (h) return h + "h " + (m % 60) + "m";
    return m + "m " + Math.floor(s % 60) + "s";
  }
  function time(t) { if (!t) return "–"; const d = new Date(t); return isNaN(d) ? "–" : d.toLocaleTimeString([], { hour12: false }); }
  const base = (p) => p.slice(p.lastIndexOf("/") + 1);
  async function get(path) {
    const r = await fetch(path, { cache: "no-store", credentials: "same-origin" });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }

  // ---- Overview
  let lastRole = "";
  function overview(o) {
    lastRole = o.role;
    setText("job-name", o.job);
    document.title = o.job + " · topspeed";
    const st = $("job-state"); st.textContent = o.state; st.className = "badge " + o.state.split(" ")[0];
    const ro = $("role"); ro.textContent = o.role; ro.className = "badge role " + o.role;
    setText("ov-state", o.state);
    setText("ov-ready", o.ready ? "yes" : "no");
    setText("ov-uptime", dur(o.uptime_seconds));
    setText("ov-version", o.build.version + " (" + String(o.build.revision).slice(0, 12) + ", " + o.build.go_version + ")");
    setText("ov-mode", o.mode);
    setText("ov-role", o.role);
    setText("ov-term", o.mode === "ha" ? o.term : "–");
    setText("ov-leader", o.leader || (o.mode === "ha" ? "unknown" : "–"));
    setText("ov-parallelism", o.parallelism);
    setText("ov-in", num(o.rates.records_in_per_second) + "/s");
    setText("ov-out", num(o.rates.records_out_per_second) + "/s");
    $("ov-peers-box").hidden = !o.peers.length;
    const ul = $("ov-peers"); ul.replaceChildren();
    for (const p of o.peers) {
      const li = el("li", { class: (p.leader ? "leader " : "") + (p.self ? "self" : "") },
        p.id + " · " + p.address + (p.leader ? " · leader" : "") + (p.self ? " · this replica" : ""));
      ul.append(li);
    }
    $("ov-parts-box").hidden = o.mode !== "kafka-group";
    if (o.mode === "kafka-group") {
      setText("ov-partitions", (o.partitions && o.partitions.length ? o.partitions.join(", ") : "none") +
        (o.topic ? " of topic " + o.topic : "") + (o.group ? " (group " + o.group + ")" : ""));
    }
    $("sp-button").disabled = spBusy || !o.savepoints_enabled;
    $("sp-button").title = o.savepoints_enabled ? "" : "savepoints need --checkpoint-dir, --savepoint-dir and --http-token-file (and the leader, with HA)";
  }

  // ---- Job graph: stages in columns by depth, arrows between them.
  const BW = 230, BH = 104, GX = 80, GY = 24, PAD = 16;
  function graph(g) {
    const svg = $("graph-svg");
    const byName = new Map(g.stages.map((s) => [s.name, s]));
    const depth = new Map();
    const depthOf = (s, seen) => {
      if (depth.has(s.name)) return depth.get(s.name);
      if (seen.has(s.name)) return 0;
      seen.add(s.name);
      let d = 0;
      for (const i of s.inputs) if (byName.has(i)) d = Math.max(d, depthOf(byName.get(i), seen) + 1);
      depth.set(s.name, d);
      return d;
    };
    const cols = [];
    for (const s of g.stages) { const d = depthOf(s, new Set()); (cols[d] = cols[d] || []).push(s); }
    const pos = new Map();
    let rows = 1;
    cols.forEach((c, x) => { c.forEach((s, y) => pos.set(s.name, { x: PAD + x * (BW + GX), y: PAD + y * (BH + GY) })); rows = Math.max(rows, c.length); });
    const W = PAD * 2 + Math.max(1, cols.length) * BW + Math.max(0, cols.length - 1) * GX;
    const H = PAD * 2 + rows * BH + (rows - 1) * GY;
    svg.setAttribute("width", W); svg.setAttribute("height", H); svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.replaceChildren();
    if (!g.stages.length) {
      svg.setAttribute("width", 520); svg.setAttribute("height", 60); svg.setAttribute("viewBox", "0 0 520 60");
      svg.append(el("svg:text", { class: "empty", x: PAD, y: 34 }, "No job runs on this replica" + (lastRole === "follower" ? " (a follower: see the leader's dashboard)" : "") + "."));
      return;
    }
    const defs = el("svg:defs");
    const m = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse" });
    m.append(el("svg:path", { d: "M0,0 L10,5 L0,10 z" }));
    defs.append(m); svg.append(defs);
    for (const e of g.edges) {
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + BW, y1 = a.y + BH / 2, x2 = b.x - 2, y2 = b.y + BH / 2, mx = (x1 + x2) / 2;
      svg.append(el("svg:path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to }));
    }
    for (const s of g.stages) {
      const p = pos.get(s.name);
      const grp = el("svg:g", { class: "stage " + s.kind, "data-stage": s.name, transform: `translate(${p.x},${p.y})` });
      grp.append(el("svg:rect", { class: "box", width: BW, height: BH, rx: 6 }));
      grp.append(el("svg:text", { class: "name", x: 10, y: 18 }, s.name));
      grp.append(el("svg:text", { class: "kind", x: BW - 10, y: 18, "text-anchor": "end" }, s.kind + " ×" + s.parallelism));
      grp.append(el("svg:text", { class: "rate-in", x: 10, y: 38 }, "in " + num(s.records_in_per_second) + "/s"));
      grp.append(el("svg:text", { class: "rate-out", x: BW / 2 + 4, y: 38 }, "out " + num(s.records_out_per_second) + "/s"));
      grp.append(el("svg:text", { class: "totals", x: 10, y: 56 }, "total " + num(s.records_in) + " in · " + num(s.records_out) + " out"));
      const lag = s.watermark_lag_seconds;
      grp.append(el("svg:text", { class: "wm", x: 10, y: 74 }, s.kind === "sink" ? "watermark: –" : "watermark lag " + (lag === null ? "–" : dur(Math.max(lag, 0)))));
      if (s.kind !== "source") {
        const f = Math.min(Math.max(s.queue_fill, 0), 1), w = BW - 20;
        grp.append(el("svg:rect", { class: "qbg", x: 10, y: 84, width: w, height: 10, rx: 3 }));
        grp.append(el("svg:rect", { class: "qfill" + (f >= 0.99 ? " full" : f >= 0.5 ? " hot" : ""), x: 10, y: 84, width: Math.max(f * w, 0.5), height: 10, rx: 3 }));
        const t = el("svg:title", {}, "queue " + s.queue_batches + " of " + s.queue_capacity_batches + " batches; fullest subtask " + Math.round(f * 100) + "%");
        grp.append(t);
        grp.append(el("svg:text", { class: "qtext", x: BW - 10, y: 74, "text-anchor": "end" }, "queue " + Math.round(f * 100) + "%"));
      }
      svg.append(grp);
    }
  }

  // ---- Throughput chart
  // The samples of the last 5 minutes; each refresh asks only for newer ones.
  let tp = [];
  const tpPath = () => "throughput" + (tp.length ? "?since=" + new Date(tp[tp.length - 1].time).getTime() : "");
  function throughput(t) {
    const svg = $("tp-chart"), W = 640, H = 200, L = 44, B = 18, T = 8;
    if (t.samples.length && tp.length && new Date(t.samples[0].time) <= new Date(tp[tp.length - 1].time)) tp = []; // restarted
    tp = tp.concat(t.samples);
    const cut = tp.length ? new Date(tp[tp.length - 1].time).getTime() - 300e3 : 0;
    tp = tp.filter((x) => new Date(x.time).getTime() >= cut);
    const s = tp;
    svg.replaceChildren();
    const maxV = Math.max(1, ...s.map((x) => Math.max(x.records_in_per_second, x.records_out_per_second)));
    const now = s.length ? new Date(s[s.length - 1].time).getTime() : Date.now();
    // The x axis spans the samples there are: 30 s at least, 5 min at most.
    const span = Math.min(300, Math.max(30, s.length ? (now - new Date(s[0].time).getTime()) / 1000 : 0));
    const X = (tm) => L + (W - L - 4) * (1 - (now - new Date(tm).getTime()) / 1000 / span);
    const Y = (v) => T + (H - T - B) * (1 - v / maxV);
    for (const f of [0, 0.5, 1]) {
      svg.append(el("svg:line", { class: "grid", x1: L, x2: W, y1: Y(maxV * f), y2: Y(maxV * f) }));
      svg.append(el("svg:text", { class: "axis", x: L - 4, y: Y(maxV * f) + 4, "text-anchor": "end" }, num(maxV * f)));
    }
    svg.append(el("svg:text", { class: "axis", x: L, y: H - 4 }, span >= 300 ? "−5 min" : "−" + Math.round(span) + " s"));
    svg.append(el("svg:text", { class: "axis", x: W - 4, y: H - 4, "text-anchor": "end" }, "now"));
    for (const k of ["in", "out"]) {
      const pts = s.map((x) => X(x.time).toFixed(1) + "," + Y(x["records_" + k + "_per_second"]).toFixed(1)).join(" ");
      svg.append(el("svg:polyline", { class: k, points: pts }));
    }
    const last = s[s.length - 1];
    setText("tp-now", last ? "now: " + num(last.records_in_per_second) + " in/s, " + num(last.records_out_per_second) + " out/s" : "no samples yet");
  }

  // ---- Checkpoints
  function checkpoints(c) {
    const l = c.latest;
    setText("ck-latest", l ? "#" + l.id + (l.term ? " (term " + l.term + ")" : "") + " at " + time(l.time) + (l.path ? " · " + l.path : "") : "none yet");
    setText("ov-ckpt", l ? "#" + l.id + " at " + time(l.time) : "none yet");
    const tb = $("ck-table").tBodies[0]; tb.replaceChildren();
    for (const e of c.history.slice(0, CK_ROWS)) {
      const tr = el("tr", { class: e.state, "data-state": e.state, "data-id": e.id });
      tr.append(el("td", {}, e.id ? String(e.id) : "–"), el("td", {}, e.state), el("td", {}, time(e.time)),
        el("td", {}, e.state === "completed" ? dur(e.duration_seconds) : "–"), el("td", {}, e.state === "completed" ? bytes(e.size_bytes) : "–"),
        el("td", { class: "path", title: e.path || e.cause || "" }, e.path ? base(e.path) : e.cause || ""));
      tb.append(tr);
    }
    setText("ck-count", c.total ? "the last " + Math.min(CK_ROWS, c.history.length) + " of " + c.total + " taken here" : "");
  }

  // ---- Exceptions
  function exceptions(x) {
    const tb = $("exc-table").tBodies[0]; tb.replaceChildren();
    for (const e of x.exceptions) {
      const tr = el("tr", {});
      tr.append(el("td", {}, time(e.time)), el("td", {}, e.kind), el("td", {}, e.stage || "–"), el("td", { class: "path" }, e.message));
      tb.append(tr);
    }
    $("exc-none").hidden = x.exceptions.length > 0;
    setText("exc-total", x.total ? x.total + " since start" + (x.total > x.exceptions.length ? ", the last " + x.exceptions.length + " shown" : "") : "");
  }

  // ---- Savepoint button
  let spBusy = false;
  const TOKEN_KEY = "topspeed.token";
  function initSavepoint() {
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) $("sp-token").value = saved;
    $("sp-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const token = $("sp-token").value.trim();
      const out = $("sp-result");
      if (!token) { out.className = "result err"; out.textContent = "Enter the bearer token of --http-token-file first."; return; }
      spBusy = true; $("sp-button").disabled = true;
      out.className = "result"; out.textContent = "Taking a savepoint…";
      try {
        const r = await fetch("/api/v1/savepoints", { method: "POST", headers: { Authorization: "Bearer " + token }, cache: "no-store", credentials: "same-origin" });
        let body = {};
        try { body = await r.json(); } catch (e) { /* not JSON */ }
        if (r.status === 201 && body.path) {
          sessionStorage.setItem(TOKEN_KEY, token);
          out.className = "result ok"; out.textContent = "Savepoint written to " + body.path;
          out.setAttribute("data-path", body.path);
        } else {
          if (r.status === 401) sessionStorage.removeItem(TOKEN_KEY);
          out.className = "result err"; out.textContent = "HTTP " + r.status + ": " + (body.error || r.statusText);
        }
      } catch (e) {
        out.className = "result err"; out.textContent = "Request failed: " + e.message;
      } finally {
        spBusy = false; $("sp-button").disabled = false;
        refresh();
      }
    });
  }

  // ---- Polling
  let inFlight = false;
  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    try {
      const [o, g, c, x, t] = await Promise.all(["overview", "graph", "checkpoints", "exceptions", tpPath()].map((p) => get("/api/v1/" + p)));
      overview(o); graph(g); checkpoints(c); exceptions(x); throughput(t);
      setText("updated", "updated " + new Date().toLocaleTimeString());
      document.body.setAttribute("data-loaded", "1");
    } catch (e) {
      setText("updated", "update failed: " + e.message);
    } finally {
      inFlight = false;
    }
  }
  initSavepoint();
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
})();
