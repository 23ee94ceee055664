// greenrow's dashboard: polls /stats?histograms=1 and /runs once a second, keeps 5 minutes of history
// in the page, and streams one row's events (fetch, so that the token can be sent: EventSource cannot).
"use strict";

const POLL_MS = 1000;
const HISTORY_S = 300;      // what the charts keep
const WINDOW_S = 5;         // rates and recent percentiles are taken over this many seconds
const RUN_RATE_S = 10;      // a run's rate (and so its ETA) over this many seconds
const MAX_EVENTS = 30;      // events the inspector lists

const state = {
  token: sessionStorage.getItem("greenrow-token") || "",
  snapshots: [],            // {t, ticks, cpu, lateness, http} of the last WINDOW_S + 1 seconds
  runTicks: new Map(),      // run id -> [[t, ticks], ...] of the last RUN_RATE_S seconds
  stream: null,             // the inspector's AbortController
};

// --- HTTP ---------------------------------------------------------------------------------------
class Unauthorized extends Error {}

function headers() {
  return state.token ? {Authorization: `Bearer ${state.token}`} : {};
}

async function getJSON(path) {
  const response = await fetch(path, {headers: headers(), cache: "no-store"});
  if (response.status === 401) throw new Unauthorized("a token is needed");
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`);
  return body;
}

function setStatus(stateName, text) {
  const status = document.getElementById("status");
  status.dataset.state = stateName;
  status.textContent = text;
}

// --- formatting ---------------------------------------------------------------------------------
const fmtInt = n => (n == null ? "–" : Math.round(n).toLocaleString("en-US"));
const fmtMs = n => (n == null ? "–" : `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`);
const fmtMiB = bytes => (bytes == null ? "–" : `${(bytes / 2 ** 20).toFixed(1)} MiB`);
function fmtDuration(s) {
  if (s == null || !isFinite(s)) return "–";
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

// --- recent percentiles from two snapshots of bucket counts ---------------------------------------
function bucketCounts(hist) {
  const counts = new Map();
  for (const [bound, count] of hist.buckets) counts.set(bound === null ? Infinity : bound, count);
  return {counts, max: hist.max};
}

function recentPercentiles(newer, older) {
  // the upper bound of the bucket holding each rank, among what was recorded between the two snapshots
  const diff = [];
  let total = 0;
  for (const [bound, count] of newer.counts) {
    const added = count - (older ? older.counts.get(bound) || 0 : 0);
    if (added > 0) { diff.push([bound, added]); total += added; }
  }
  if (!total) return {p50: null, p99: null, count: 0};
  diff.sort((a, b) => a[0] - b[0]);
  const at = fraction => {
    let seen = 0;
    for (const [bound, count] of diff) {
      seen += count;
      if (seen >= fraction * total) return Math.min(bound, newer.max);
    }
    return newer.max;
  };
  return {p50: at(0.5), p99: at(0.99), count: total};
}

// --- charts -------------------------------------------------------------------------------------
const CHARTS = [
  {id: "servers", title: "live row servers", series: [{label: "row servers", stroke: "#2a9d8f"}]},
  {id: "ticks", title: "ticks committed / s", series: [{label: "ticks/s", stroke: "#264653"}]},
  {id: "lateness", title: "tick lateness (ms)", series: [{label: "p50", stroke: "#e9c46a"}, {label: "p99", stroke: "#e76f51"}]},
  {id: "http", title: "HTTP request duration (ms)", series: [{label: "p50", stroke: "#8ab17d"}, {label: "p99", stroke: "#b5179e"}]},
  {id: "memory", title: "memory, RSS of every node (MiB)", series: [{label: "RSS", stroke: "#457b9d"}]},
  {id: "cpu", title: "CPU, every node (% of a core)", series: [{label: "CPU", stroke: "#f4a261"}]},
];

function makeCharts() {
  const holder = document.getElementById("charts");
  for (const chart of CHARTS) {
    const box = document.createElement("div");
    box.className = "chart";
    box.id = `chart-${chart.id}`;
    box.dataset.points = "0";
    holder.appendChild(box);
    chart.data = [[], ...chart.series.map(() => [])];
    chart.box = box;
    chart.plot = new uPlot({
      title: chart.title, width: chartWidth(), height: 180,
      scales: {x: {time: true}, y: {range: (u, min, max) => [0, Math.max(1, max * 1.1)]}},
      axes: [{}, {size: 60}],
      series: [{}, ...chart.series.map(s => ({label: s.label, stroke: s.stroke, width: 1.5, spanGaps: false}))],
    }, chart.data, box);
  }
  window.addEventListener("resize", () => CHARTS.forEach(c => c.plot.setSize({width: chartWidth(), height: 180})));
}

function chartWidth() {
  const width = document.getElementById("charts").clientWidth || 900;
  const perRow = width > 1100 ? 3 : width > 700 ? 2 : 1;
  return Math.max(280, Math.floor((width - 8 * (perRow - 1)) / perRow) - 12);  // the gaps, a box's padding and border
}

function pushPoint(id, t, values) {
  const chart = CHARTS.find(c => c.id === id);
  chart.data[0].push(t);
  values.forEach((v, i) => chart.data[i + 1].push(v));
  while (chart.data[0].length && chart.data[0][0] < t - HISTORY_S) chart.data.forEach(column => column.shift());
  chart.plot.setData(chart.data);
  chart.box.dataset.points = String(chart.data[0].length);
  chart.box.dataset.last = JSON.stringify(values);
}

// --- one poll -----------------------------------------------------------------------------------
async function poll() {
  try {
    const [stats, runs] = await Promise.all([getJSON("/stats?histograms=1"), getJSON("/runs?limit=20")]);
    const t = Date.now() / 1000;
    showStats(stats, t);
    showRuns(runs.runs, t);
    setStatus("live", `live · answered by ${stats.node}`);
  } catch (error) {
    if (error instanceof Unauthorized) {
      document.getElementById("token-form").hidden = false;
      setStatus("token", state.token ? "that token was refused" : "this service needs a token");
    } else {
      setStatus("error", `no answer: ${error.message}`);
    }
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function showStats(stats, t) {
  const c = stats.cluster;
  const snapshot = {
    t, ticks: c.counters.ticks_committed || 0, cpu: c.cpu_s,
    lateness: bucketCounts(stats.histograms.tick_lateness), http: bucketCounts(stats.histograms.http_requests),
  };
  state.snapshots.push(snapshot);
  while (state.snapshots.length > 2 && state.snapshots[0].t < t - WINDOW_S) state.snapshots.shift();
  const older = state.snapshots.length > 1 ? state.snapshots[0] : null;
  const span = older ? t - older.t : 0;
  const ticksPerS = span > 0 ? Math.max(0, snapshot.ticks - older.ticks) / span : null;
  const cpuPercent = span > 0 ? Math.max(0, snapshot.cpu - older.cpu) / span * 100 : null;
  const lateness = recentPercentiles(snapshot.lateness, older && older.lateness);
  const http = recentPercentiles(snapshot.http, older && older.http);

  pushPoint("servers", t, [c.row_servers]);
  pushPoint("ticks", t, [ticksPerS]);
  pushPoint("lateness", t, [lateness.p50, lateness.p99]);
  pushPoint("http", t, [http.p50, http.p99]);
  pushPoint("memory", t, [c.rss_bytes / 2 ** 20]);
  pushPoint("cpu", t, [cpuPercent]);

  document.getElementById("total-nodes").textContent = fmtInt(c.nodes);
  document.getElementById("total-servers").textContent = fmtInt(c.row_servers);
  document.getElementById("total-ticks").textContent = fmtInt(ticksPerS);
  document.getElementById("total-lateness").textContent = `${fmtMs(lateness.p50)} / ${fmtMs(lateness.p99)}`;
  document.getElementById("total-rss").textContent = fmtMiB(c.rss_bytes);
  document.getElementById("total-inbox").textContent = fmtInt(c.inbox_messages);

  const body = document.querySelector("#nodes tbody");
  body.replaceChildren(...stats.nodes.map(node => {
    const tr = document.createElement("tr");
    tr.dataset.node = node.node;
    const pool = node.pool || {};
    tr.append(cell(node.node), cell(node.pid), cell(fmtInt(node.shards_held)), cell(fmtInt(node.row_servers)),
      cell(fmtMiB(node.rss_bytes)), cell(node.cpu_s == null ? "–" : `${node.cpu_s.toFixed(1)} s`),
      cell(`${fmtInt(pool.in_use)} / ${fmtInt(pool.waiting)}`),
      cell(node.heartbeat_age_s == null ? "–" : `${node.heartbeat_age_s.toFixed(1)} s`));
    return tr;
  }));
}

function showRuns(runs, t) {
  const shown = runs.filter(run => run.status === "running" || (run.finished_at && Date.parse(run.finished_at) / 1000 > t - HISTORY_S));
  const body = document.querySelector("#runs tbody");
  body.replaceChildren(...shown.map(run => {
    const needed = run.rows * Math.ceil(run.start_value / run.step);
    const done = run.status === "done" ? needed : Math.min(run.ticks, needed);
    const percent = needed ? Math.floor(done / needed * 1000) / 10 : 100;
    const history = state.runTicks.get(run.id) || [];
    history.push([t, run.ticks]);
    while (history.length > 2 && history[0][0] < t - RUN_RATE_S) history.shift();
    state.runTicks.set(run.id, history);
    const span = t - history[0][0];
    const rate = span > 0 ? (run.ticks - history[0][1]) / span : null;
    const eta = run.status !== "running" ? 0 : rate > 0 ? (needed - run.ticks) / rate : null;

    const tr = document.createElement("tr");
    tr.dataset.runId = run.id;
    tr.dataset.status = run.status;
    const progress = document.createElement("td");
    const bar = document.createElement("div");
    bar.className = "progress";
    bar.dataset.percent = String(percent);
    bar.innerHTML = `<div class="fill" style="width:${percent}%"></div><span>${percent.toFixed(1)} %</span>`;
    progress.appendChild(bar);
    tr.append(cell(run.id), cell(run.status), progress, cell(`${fmtInt(run.done)} / ${fmtInt(run.rows)}`),
      cell(fmtInt(run.active)), cell(rate == null ? "–" : fmtInt(rate)),
      cell(run.status === "running" ? fmtDuration(eta) : run.status));
    return tr;
  }));
}

// --- the row inspector: the row's events, streamed ----------------------------------------------------
async function inspect(rowId) {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  document.getElementById("inspect-events").replaceChildren();
  document.getElementById("inspect-error").textContent = "none";
  const said = document.getElementById("inspect-state");
  said.textContent = "connecting…";
  try {
    const response = await fetch(`/rows/${rowId}/events`, {headers: headers(), signal: controller.signal});
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      said.textContent = body.error ? body.error.message : `HTTP ${response.status}`;
      return;
    }
    said.textContent = "watching";
    document.getElementById("inspect-row").hidden = false;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handleEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
    if (state.stream === controller) said.textContent = "the stream ended (Watch again to go on)";
  } catch (error) {
    if (error.name !== "AbortError") said.textContent = `stream broken: ${error.message}`;
  }
}

function handleEvent(text) {
  let name = "message", data = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;  // a keepalive comment
  const event = JSON.parse(data);
  if (name === "row") {
    for (const field of ["value", "status", "node", "inbox", "restarts", "ticks"]) {
      document.getElementById(`inspect-${field}`).textContent = event[field] == null ? "–" : String(event[field]);
    }
  }
  if (name === "crash") document.getElementById("inspect-error").textContent = `${event.error} (${event.outcome})`;
  const item = document.createElement("li");
  const when = new Date().toLocaleTimeString();
  item.textContent = name === "row" ? `${when} row: value ${event.value}, ${event.status}, node ${event.node}`
    : name === "message" ? `${when} message ${event.message} (#${event.message_id}): value ${event.value}`
    : name === "crash" ? `${when} crash: ${event.error}, ${event.outcome}`
    : `${when} ${name}: ${event.reason || event.message || ""}`;
  const list = document.getElementById("inspect-events");
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

// --- start ----------------------------------------------------------------------------------------
document.getElementById("token-form").addEventListener("submit", event => {
  event.preventDefault();
  state.token = document.getElementById("token").value.trim();
  sessionStorage.setItem("greenrow-token", state.token);
  document.getElementById("token-form").hidden = true;
});
document.getElementById("inspect-form").addEventListener("submit", event => {
  event.preventDefault();
  inspect(document.getElementById("inspect-id").value);
});
makeCharts();
poll();
