// The sim5360 dashboard: plain JavaScript over the control API (docs/control.md).
// Live data comes from one EventSource per selected modem (GET /api/v1/modems/<id>/events:
// `trace` and `state` events); every button is a fetch() to the REST API. With
// ?snapshot=1 the page renders once from GET requests and opens no stream, so a headless
// browser's --screenshot or --dump-dom terminates. Either way the first render (state,
// mailboxes, the latest trace lines, the modem and preset lists) is made before the page's
// load event, with synchronous requests to the local API, so a capture never shows empty
// panels; the stream then goes on from the last line shown.
"use strict";

const params = new URLSearchParams(window.location.search);
const token = params.get("token");
const snapshot = params.get("snapshot") === "1";
const MAX_LINES = 5000;

let modem = Number(params.get("modem") || 0);
let source = null;
let paused = false;
let lines = [];
let held = [];
let lastBoxes = "";
// The last trace line shown (the stream's replay repeats what the first render showed).
let lastSeq = 0;

const $ = (id) => document.getElementById(id);

function withToken(url) {
  if (!token) {
    return url;
  }
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(method, path, body) {
  const headers = {};
  if (token) {
    headers.Authorization = "Bearer " + token;
  }
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const base = path.startsWith("/") ? "" : "/api/v1/modems/" + modem + "/";
  const r = await fetch(base + path, init);
  const text = await r.text();
  const value = text ? JSON.parse(text) : null;
  if (!r.ok) {
    throw new Error((value && value.error) || r.status + " " + r.statusText);
  }
  return value;
}

// A GET answered before this returns (the first render, before the load event).
function getSync(path) {
  const base = path.startsWith("/") ? "" : "/api/v1/modems/" + modem + "/";
  const xhr = new XMLHttpRequest();
  xhr.open("GET", base + path, false);
  if (token) {
    xhr.setRequestHeader("Authorization", "Bearer " + token);
  }
  xhr.send();
  const value = xhr.responseText ? JSON.parse(xhr.responseText) : null;
  if (xhr.status >= 400) {
    throw new Error((value && value.error) || String(xhr.status));
  }
  return value;
}

function say(text, isError) {
  const f = $("feedback");
  f.textContent = text;
  f.classList.toggle("error", Boolean(isError));
}

async function act(label, method, path, body) {
  try {
    await api(method, path, body);
    say(label + ": done");
  } catch (e) {
    say(label + ": " + e.message, true);
  }
}

// The state panel.
function put(dl, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  dl.append(dt, dd);
}

function size(bytes) {
  if (bytes === null || bytes === undefined) {
    return "?";
  }
  if (bytes < 1024 * 1024) {
    return (bytes / 1024).toFixed(1) + " KiB";
  }
  return (bytes / (1024 * 1024)).toFixed(1) + " MiB";
}

function percent(used, total) {
  if (used === null || used === undefined || !total) {
    return "?";
  }
  return (100 * used / total).toFixed(1) + " %";
}

// The state panel; `sync`: the mailboxes with it, before this returns (the first render).
function showState(s, sync) {
  const dl = $("state");
  dl.replaceChildren();
  if (s.error) {
    put(dl, "error", s.error);
    return;
  }
  put(dl, "model", s.model);
  put(dl, "IMEI", s.imei);
  put(dl, "MSISDN", s.msisdn);
  put(dl, "power", s.awake ? "on, CFUN=" + s.cfun : "booting");
  put(dl, "SIM", s.sim);
  put(dl, "coverage", s.coverage ? "yes" : "lost");
  put(dl, "registration", "CS " + s.registration.cs + ", PS " + s.registration.ps);
  put(dl, "signal", s.signal.csq);
  put(dl, "operator", s.operator.name + " (" + s.operator.numeric + "), AcT " + s.operator.act);
  put(dl, "PDP active", s.pdp_active.length ? s.pdp_active.join(", ") : "none");
  if (s.sockets) {
    const links = s.sockets.links.map((l) => JSON.stringify(l)).join("; ");
    put(dl, "NETOPEN", s.sockets.netopen ? "open" : "closed");
    put(dl, "sockets", links || "none");
  }
  if (s.ppp) {
    put(dl, "data call", dataCall(s.ppp.call));
  }
  put(dl, "multiplexer", multiplexer(s.mux));
  put(dl, "jobs", s.jobs.length ? s.jobs.join("; ") : "none");
  if (s.efs) {
    for (const [drive, u] of Object.entries(s.efs)) {
      put(dl, "EFS " + drive + ":", size(u.used) + " of " + size(u.total) + " (" + percent(u.used, u.total) + ")");
    }
  }
  if (s.sms) {
    put(dl, "SMS stored", "SM " + s.sms.SM.used + "/" + s.sms.SM.total + ", ME " + s.sms.ME.used + "/" + s.sms.ME.total);
  }
  if (s.gnss) {
    put(dl, "GNSS", (s.gnss.on ? "on" : "off") + (s.gnss.fix ? ", fix" : ", no fix"));
  }
  put(dl, "network", s.network && s.network.preset ? s.network.preset : conditions(s.network));
  put(dl, "faults", s.faults.length ? s.faults.map((f) => f.name).join(", ") : "none");
  put(dl, "overrides", String(s.overrides.length));
  const boxes = JSON.stringify([s.sms && s.sms.SM, s.sms && s.sms.ME]);
  if (boxes !== lastBoxes) {
    lastBoxes = boxes;
    if (sync) {
      fillBoxes(getSync("sms?box=inbox"), getSync("sms?box=outbox"));
    } else {
      refreshBoxes();
    }
  }
}

// The 27.010 multiplexer: each open channel with what it carries, and bad frames.
function multiplexer(m) {
  if (!m) {
    return "off";
  }
  const open = m.channels.filter((c) => c.open).map((c) => {
    const what = c.nmea ? "NMEA" : ({ raw: "transparent", hdlc: "PPP" }[c.data] || "AT");
    return "DLCI " + c.dlci + " " + what + (c.held ? " (held)" : "");
  });
  const bad = m.bad_fcs + m.too_long + m.bad_frames;
  return (open.length ? open.join(", ") : "no channel open") + "; N1 " + m.send_max + "/" + m.recv_max +
    (bad ? "; " + bad + " bad frame(s)" : "");
}

// A PPP data call: its phase, addresses, time, bytes and flows.
function dataCall(c) {
  if (!c) {
    return "none";
  }
  const addr = c.addr ? c.addr + ", DNS " + c.dns.join(" ") : "no address yet";
  return "cid " + c.cid + ", " + c.phase + ", " + addr + ", " + c.seconds + " s, " +
    size(c.bytes_in) + " in, " + size(c.bytes_out) + " out, flows " + c.flows + " open / " +
    c.flows_total + " in all, " + c.refused + " refused";
}

function conditions(n) {
  if (!n || (n.down_kbps === null && n.up_kbps === null && !n.rtt_ms && !n.loss_pct)) {
    return "full";
  }
  return (n.down_kbps ?? "∞") + "/" + (n.up_kbps ?? "∞") + " kbit/s, RTT " + n.rtt_ms + " ms, loss " + n.loss_pct + " %";
}

// The mailboxes.
function fillTable(id, rows, cells) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const c of cells(r)) {
      const td = document.createElement("td");
      td.textContent = c === null || c === undefined ? "" : String(c);
      tr.append(td);
    }
    body.append(tr);
  }
}

function fillBoxes(inbox, outbox) {
  fillTable("inbox", inbox, (m) => [m.mem, m.index, m.stat, m.from ?? m.to, m.time, m.text]);
  fillTable("outbox", outbox, (m) => [m.mr, m.to, m.time, m.text]);
}

async function refreshBoxes() {
  try {
    fillBoxes(await api("GET", "sms?box=inbox"), await api("GET", "sms?box=outbox"));
  } catch (e) {
    say("mailboxes: " + e.message, true);
  }
}

// The trace.
function matches(l) {
  const f = $("filter").value.toLowerCase();
  return !f || l.text.toLowerCase().includes(f) || l.dir === f;
}

function lineItem(l) {
  const li = document.createElement("li");
  li.className = l.dir;
  const t = document.createElement("span");
  t.className = "t";
  t.textContent = l.t.toFixed(3).padStart(10) + " ";
  const d = document.createElement("span");
  d.className = "d";
  d.textContent = { rx: "DTE> ", tx: "<MOD ", note: "NOTE " }[l.dir] || l.dir + " ";
  const x = document.createElement("span");
  x.textContent = l.text;
  li.append(t, d, x);
  return li;
}

function render() {
  const ol = $("trace");
  const shown = lines.filter(matches).slice(-MAX_LINES);
  ol.replaceChildren(...shown.map(lineItem));
  ol.scrollTop = ol.scrollHeight;
  $("trace-count").textContent = shown.length + " of " + lines.length + " lines";
}

function addLines(more) {
  more = more.filter((l) => l.seq > lastSeq);
  if (more.length) {
    lastSeq = more[more.length - 1].seq;
  }
  lines = lines.concat(more);
  if (lines.length > MAX_LINES) {
    lines = lines.slice(-MAX_LINES);
  }
  if (paused) {
    $("trace-count").textContent = "paused; " + lines.length + " lines";
    return;
  }
  const ol = $("trace");
  const atEnd = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  for (const l of more.filter(matches)) {
    ol.append(lineItem(l));
  }
  while (ol.childElementCount > MAX_LINES) {
    ol.firstElementChild.remove();
  }
  if (atEnd) {
    ol.scrollTop = ol.scrollHeight;
  }
  $("trace-count").textContent = ol.childElementCount + " of " + lines.length + " lines";
}

function download() {
  const text = lines.map((l) => "[" + l.t.toFixed(6) + "] " + l.dir + " " + l.text).join("\n") + "\n";
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  a.download = "sim5360-modem" + modem + "-trace.txt";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// The stream.
function connect() {
  if (source) {
    source.close();
  }
  lines = [];
  held = [];
  lastSeq = 0;
  render();
  if (snapshot) {
    loadOnce();
    return;
  }
  openStream();
}

function openStream() {
  source = new EventSource(withToken("/api/v1/modems/" + modem + "/events"));
  source.addEventListener("open", () => {
    $("link-status").textContent = "live";
  });
  source.addEventListener("error", () => {
    $("link-status").textContent = "reconnecting…";
  });
  source.addEventListener("trace", (e) => {
    held.push(JSON.parse(e.data));
  });
  source.addEventListener("state", (e) => {
    // Trace lines of one batch come before its state: flush them together.
    addLines(held);
    held = [];
    showState(JSON.parse(e.data));
  });
}

// What a snapshot shows, every part of it before the status says "snapshot".
function loadOnce() {
  try {
    addLines(getSync("trace?limit=200"));
    showState(getSync(""), true);
    $("link-status").textContent = "snapshot";
  } catch (e) {
    say("snapshot: " + e.message, true);
  }
}

function loadModems() {
  const list = getSync("/api/v1/modems");
  const select = $("modem");
  select.replaceChildren();
  for (const m of list) {
    const o = document.createElement("option");
    o.value = String(m.id);
    o.textContent = m.id + ": " + (m.msisdn || "?") + (m.error ? " (" + m.error + ")" : m.registered ? "" : " (not registered)");
    select.append(o);
  }
  if (!list.some((m) => m.id === modem) && list.length) {
    modem = list[0].id;
  }
  select.value = String(modem);
}

function loadPresets() {
  const p = getSync("/api/v1/presets");
  const select = $("preset");
  for (const x of p.presets) {
    if (x.name === "full") {
      continue;
    }
    const o = document.createElement("option");
    o.value = x.name;
    o.textContent = x.name + " (" + (x.down_kbps ?? "∞") + "/" + (x.up_kbps ?? "∞") + " kbit/s)";
    select.append(o);
  }
}

function formValue(form, name) {
  return form.elements.namedItem(name).value;
}

function wire() {
  $("modem").addEventListener("change", (e) => {
    modem = Number(e.target.value);
    lastBoxes = "";
    connect();
  });
  $("coverage-off").addEventListener("click", () => act("coverage off", "POST", "coverage", { lost: true }));
  $("coverage-on").addEventListener("click", () => act("coverage on", "POST", "coverage", { lost: false }));
  $("sim-remove").addEventListener("click", () => act("SIM removed", "PATCH", "sim", { present: false }));
  $("sim-insert").addEventListener("click", () => act("SIM inserted", "PATCH", "sim", { present: true }));
  $("reboot").addEventListener("click", () => act("reboot", "POST", "reboot"));
  $("reset").addEventListener("click", () => act("reset", "POST", "/api/v1/reset"));
  $("gnss-off").addEventListener("click", () => act("GNSS no fix", "PUT", "gnss", { fix: false }));
  $("signal-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act("signal", "PATCH", "radio", { rssi: Number(formValue(e.target, "rssi")) });
  });
  $("preset-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act("network " + formValue(e.target, "preset"), "PUT", "network", { preset: formValue(e.target, "preset") });
  });
  $("gnss-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const lat = Number(formValue(e.target, "lat"));
    const lon = Number(formValue(e.target, "lon"));
    act("GNSS position", "PUT", "gnss", { fix: true, lat, lon });
  });
  $("sms-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act("SMS delivered", "POST", "sms", { from: formValue(e.target, "from"), text: formValue(e.target, "text") });
  });
  $("override-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = formValue(e.target, "lines");
    const body = {
      command: formValue(e.target, "command"),
      lines: text ? text.split("\n").filter((l) => l.length) : [],
      result: formValue(e.target, "result"),
      times: 1,
    };
    act("override " + body.command, "POST", "overrides", body);
  });
  $("pause").addEventListener("click", (e) => {
    paused = !paused;
    e.target.setAttribute("aria-pressed", String(paused));
    e.target.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      render();
    }
  });
  $("filter").addEventListener("input", render);
  $("download").addEventListener("click", download);
}

function main() {
  wire();
  try {
    loadModems();
    loadPresets();
  } catch (e) {
    say("start: " + e.message, true);
  }
  // The first render, then (live) the stream from the last line shown.
  loadOnce();
  if (!snapshot) {
    $("link-status").textContent = "connecting…";
    openStream();
  }
}

main();
