/// The coordinator's status page (`/`): one self-contained HTML file (no CDN:
/// hosts may have no internet) that polls `/api/status` (firing alerts included) and `/api/recent`
/// every 2 s and redraws. A token given as `?token=` is kept in the tab's
/// session storage and sent as a bearer token.
enum Dashboard {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  main { padding: 12px 20px; display: grid; gap: 16px; }
  section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 10px 14px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eef0f3; white-space: nowrap; }
  th { font-weight: 600; color: #5a6270; }
  .state-alive { color: #137333; } .state-suspect, .state-draining { color: #b06000; } .state-dead, .state-left { color: #a50e0e; }
  .bar { background: #e6e9ee; border-radius: 3px; height: 10px; width: 200px; display: inline-block; vertical-align: middle; }
  .bar > span { display: block; height: 100%; background: #3c78d8; border-radius: 3px; }
  .charts { display: flex; gap: 24px; flex-wrap: wrap; }
  .chart svg { background: #fbfcfd; border: 1px solid #eef0f3; }
  .alert { background: #fce8e6; border: 1px solid #f5c6c2; border-radius: 4px; padding: 6px 10px; margin: 4px 0; }
  #error { color: #a50e0e; }
  .muted { color: #5a6270; }
</style>
</head>
<body>
<header><h1>Sluice</h1><span id="coordinator" class="muted"></span><span id="updated" class="muted"></span><span id="error"></span></header>
<main>
  <section id="alerts-section"><h2>Firing alerts</h2><div id="alerts"><span class="muted">none</span></div></section>
  <section id="autoscaler-section" hidden><h2>Autoscaler</h2><div id="autoscaler"></div></section>
  <section><h2>Workers</h2>
    <table><thead><tr><th>Worker</th><th>Host</th><th>State</th><th>Slots</th><th>Running</th><th>CPU</th><th>Memory</th><th>Shuffle</th><th>Heartbeat</th></tr></thead>
    <tbody id="workers"></tbody></table></section>
  <section><h2>Last hour</h2><div class="charts">
    <div class="chart"><div>Queue depth <span id="queue-now" class="muted"></span></div><svg id="queue-chart" width="360" height="80"></svg></div>
    <div class="chart"><div>Running tasks <span id="running-now" class="muted"></span></div><svg id="running-chart" width="360" height="80"></svg></div>
  </div></section>
  <section><h2>Running jobs and queries</h2><table><tbody id="jobs"></tbody></table></section>
  <section><h2>Recent failures</h2><table><tbody id="failures"></tbody></table></section>
</main>
<script>
"use strict";
const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("sluice-token", params.get("token"));
const token = sessionStorage.getItem("sluice-token");
const headers = token ? { Authorization: "Bearer " + token } : {};

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}
function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.appendChild(c instanceof Node ? c : text("td", c));
  return tr;
}
function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0; n = Number(n || 0);
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + units[i];
}
function age(ms) {
  ms = Number(ms);
  if (ms < 0) return "-";
  return ms < 1000 ? ms + "ms" : ms < 60000 ? (ms / 1000).toFixed(1) + "s" : Math.round(ms / 60000) + "m";
}
function replace(id, rows) {
  const el = document.getElementById(id);
  el.replaceChildren(...rows);
}
function chart(id, points, key) {
  const svg = document.getElementById(id);
  const w = svg.width.baseVal.value, h = svg.height.baseVal.value;
  const max = Math.max(1, ...points.map(p => p[key]));
  const t0 = points.length ? points[0].atMs : 0, t1 = points.length ? points[points.length - 1].atMs : 1;
  const span = Math.max(1, t1 - t0);
  const path = points.map(p => ((p.atMs - t0) / span * (w - 4) + 2).toFixed(1) + "," + (h - 2 - p[key] / max * (h - 14)).toFixed(1)).join(" ");
  svg.innerHTML = "";
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", path);
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#3c78d8");
  line.setAttribute("stroke-width", "1.5");
  svg.appendChild(line);
  const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
  label.setAttribute("x", "4"); label.setAttribute("y", "11"); label.setAttribute("font-size", "10"); label.setAttribute("fill", "#5a6270");
  label.textContent = "max " + max;
  svg.appendChild(label);
}
function progress(done, total) {
  const bar = document.createElement("span");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = (total ? Math.round(100 * done / total) : 0) + "%";
  bar.appendChild(fill);
  const td = document.createElement("td");
  td.appendChild(bar);
  td.appendChild(document.createTextNode(" " + done + "/" + total));
  return td;
}

async function refresh() {
  try {
    const [s, recent] = await Promise.all(["api/status", "api/recent"].map(async p => {
      const r = await fetch(p, { headers, cache: "no-store" });
      if (!r.ok) throw new Error(p + ": HTTP " + r.status);
      return r.json();
    }));
    document.getElementById("error").textContent = "";
    document.getElementById("coordinator").textContent =
      (s.coordinatorID || "") + " · sluice " + (s.coordinatorVersion || "") + " · epoch " + (s.coordinatorEpoch || 0) +
      " · up " + age(s.uptimeMs || 0) + " · memory " + bytes(s.coordinatorRssBytes);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    replace("workers", (s.workers || []).map(w => row([
      text("td", w.workerID + "#" + w.incarnation, "worker"), w.host, text("td", w.state, "state state-" + w.state),
      (w.slotsUsed || 0) + "/" + (w.slots || 0), String(w.tasksRunning || 0),
      ((w.stats && w.stats.treeCpuPercent) || 0).toFixed(0) + "%", bytes(w.stats && w.stats.treeRssBytes),
      bytes(w.stats && w.stats.shuffleBytes), age(w.lastHeartbeatAgeMs),
    ])));
    const jobs = (s.runningJobs || []).map(j => row([j.jobID, j.name || "", progress(j.tasksSucceeded || 0, j.tasksTotal || 0),
      (j.tasksRunning || 0) + " running, " + (j.tasksQueued || 0) + " queued" + (j.waiting ? "; " + j.waiting : "")]));
    replace("jobs", jobs.length ? jobs : [row([text("td", "none", "muted")])]);
    document.getElementById("queue-now").textContent = "now " + (s.queueDepth || 0);
    document.getElementById("running-now").textContent = "now " + (s.runningTasks || 0);
    chart("queue-chart", recent.history, "queueDepth");
    chart("running-chart", recent.history, "runningTasks");
    const failures = recent.failures.map(f => row([new Date(f.atMs).toLocaleTimeString(), f.subject, f.reason]));
    replace("failures", failures.length ? failures : [row([text("td", "none", "muted")])]);
    const a = s.autoscaler || {};
    document.getElementById("autoscaler-section").hidden = !a.enabled;
    if (a.enabled) {
      document.getElementById("autoscaler").textContent = a.provider + (a.dryRun ? " (dry run)" : "") + " · " + (a.min || 0) + " to " + (a.max || 0) +
        " workers · desired " + (a.desired || 0) + " · there " + (a.workers || 0) + " · starting " + (a.starting || 0) +
        (a.lastDecision ? " · last decision: " + a.lastDecision : "");
    }
    const alerts = (s.alerts || []).map(a => text("div", a.rule + ": " + a.subject + " (since " + new Date(a.sinceMs).toLocaleTimeString() + ")", "alert"));
    replace("alerts", alerts.length ? alerts : [text("span", "none", "muted")]);
  } catch (e) {
    document.getElementById("error").textContent = "cannot reach the coordinator: " + e.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""#
}
