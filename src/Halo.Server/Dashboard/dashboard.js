// Halo dashboard: reads the public API of the server it is served by and follows the event stream (SSE).
// Plain DOM, no framework and no build step; every string from the API goes through textContent, never HTML.
"use strict";

const state = { services: [], instances: new Map(), lastCause: new Map(), events: [], lastRevision: 0, paused: false, filter: "all" };
const MAX_EVENTS = 300;
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "scope" || key === "datetime" || key === "colspan") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// ---- the token ------------------------------------------------------------------------------
// A `read` token, kept in this tab's sessionStorage only. `halo up` prints a link whose fragment (#token=...) signs
// the browser in: a fragment never reaches the server or its logs, and it is removed from the address bar at once.
const TOKEN_KEY = "halo.token";
(function takeTokenFromFragment() {
  const match = /^#token=([A-Za-z0-9_\-.~]+)$/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, match[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

function authHeaders(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

function askForToken(reason) {
  const form = $("token-form");
  $("token-reason").textContent = reason;
  form.hidden = false;
  $("token-input").focus();
}

async function getJson(path) {
  const response = await fetch(path, { headers: authHeaders({ accept: "application/json" }), cache: "no-store", credentials: "omit" });
  if (response.status === 401 || response.status === 403) {
    askForToken(response.status === 401 ? "This server needs a token (a read token is enough)." : "This token may not read everything shown here.");
  }
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

const ICON = { passing: "✓", suspect: "!", critical: "✕" };
function badge(health) {
  return el("span", { class: `badge ${health}`, text: `${ICON[health] ?? "?"} ${health}` });
}

function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 1) return "just now";
  if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

function pct(value) {
  if (value === null || value === undefined) return "—";
  const p = value * 100;
  return p === 100 ? "100 %" : `${p.toFixed(p >= 99.9 ? 3 : 2)} %`;
}

function duration(seconds) {
  if (!seconds) return "—";
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// ---- services and instances ----------------------------------------------------------------

async function loadServices() {
  const list = await getJson("/v1/services");
  state.services = list.services;
  $("revision").textContent = list.revision;
  const details = await Promise.all(list.services.map((s) => getJson(`/v1/services/${encodeURIComponent(s.name)}/instances`).catch(() => null)));
  state.instances = new Map(details.filter(Boolean).map((d) => [d.service, d.instances]));
  renderServices();
}

function evidenceText(instance) {
  const last = state.lastCause.get(`${instance.service}/${instance.id}`);
  if (!last) return instance.health === "passing" ? "heartbeats on time" : "";
  // The cause already states the silence and missed heartbeats; φ is the one figure it leaves out.
  const bits = [last.cause ?? "", last.evidence?.phi !== undefined ? `φ = ${last.evidence.phi}` : ""];
  return `${bits.filter(Boolean).join(" · ")} (${ago(last.time)})`;
}

function renderServices() {
  const container = $("service-list");
  const totals = { passing: 0, suspect: 0, critical: 0 };
  const sections = state.services.map((service) => {
    for (const k of Object.keys(totals)) totals[k] += service[k];
    const instances = state.instances.get(service.name) ?? [];
    const headId = `svc-${service.name}`;
    const rows = instances.map((i) => el("tr", { "data-instance": i.id, "data-health": i.health },
      el("th", { scope: "row", text: i.id }),
      el("td", {}, badge(i.health), i.draining ? el("span", { class: "hint", text: " draining" }) : null),
      el("td", { text: `${i.address}:${i.port}` }),
      el("td", { class: "heartbeat", "data-at": i.lastHeartbeat ?? "", text: ago(i.lastHeartbeat) }),
      el("td", { class: "evidence", text: evidenceText(i) })));
    return el("article", { class: "service", "data-service": service.name, "aria-labelledby": headId },
      el("div", { class: "service-head" },
        el("h3", { id: headId, text: service.name }),
        el("span", { class: "counts", text: `${service.passing} passing · ${service.suspect} suspect · ${service.critical} critical of ${service.instances}` }),
        service.brakeEngaged ? el("span", { class: "brake", text: "mass-failure brake engaged" }) : null),
      el("div", { class: "table-wrap" },
        el("table", {},
          el("caption", { class: "visually-hidden", text: `Instances of ${service.name}` }),
          el("thead", {}, el("tr", {},
            el("th", { scope: "col", text: "Instance" }), el("th", { scope: "col", text: "Health" }),
            el("th", { scope: "col", text: "Address" }), el("th", { scope: "col", text: "Last heartbeat" }),
            el("th", { scope: "col", text: "Evidence" }))),
          el("tbody", {}, ...rows))));
  });
  container.replaceChildren(...sections);
  $("services-empty").hidden = state.services.length > 0;
  $("total-services").textContent = state.services.length;
  for (const k of Object.keys(totals)) $(`total-${k}`).textContent = totals[k];
}

function tickHeartbeats() {
  for (const cell of document.querySelectorAll("td.heartbeat")) cell.textContent = ago(cell.dataset.at);
}

// ---- groups (shown once the server has a groups API) -------------------------------------------

async function loadGroups() {
  let data;
  try { data = await getJson("/v1/groups"); } catch { $("groups").hidden = true; return; }
  const groups = Array.isArray(data) ? data : data.groups ?? [];
  $("groups").hidden = false;
  const rows = groups.map((g) => {
    const members = (g.members ?? []).map((m) => {
      const health = m.healthy === false || m.dbUp === false ? "down" : m.fresh === false ? "silent" : "healthy";
      const lag = m.lag === null || m.lag === undefined ? "" : ` lag ${m.lag}`;
      return `${m.name ?? m.id} ${m.role ?? ""} ${health}${lag}${m.fenced ? " fenced" : ""}`.replace(/\s+/g, " ").trim();
    });
    const primary = g.primary ? `${g.primary}${g.primaryConfirmed === false ? " (promoting)" : ""}` : "none";
    return el("tr", { "data-group": g.name, "data-primary": g.primary ?? "" },
      el("th", { scope: "row", text: g.name }),
      el("td", {}, g.primary ? document.createTextNode(primary) : el("span", { class: "badge critical", text: "✕ no primary" }),
        g.paused ? el("span", { class: "hint", text: " failover paused" }) : null),
      el("td", { text: g.epoch ?? "—" }),
      el("td", { text: members.join("; ") || "—" }),
      el("td", { text: failoverStages(g.lastFailover) }));
  });
  $("group-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", text: "No groups configured." }))]));
}

// Stage timings of the last failover: detection → decision (CAS on the leader record) → promotion confirmed.
function failoverStages(f) {
  if (!f) return "none yet";
  const ms = (a, b) => (a && b ? `${Math.max(0, Date.parse(b) - Date.parse(a))} ms` : "…");
  return `${f.from ?? "—"} → ${f.to} (epoch ${f.epoch}, ${f.cause}): decided after ${ms(f.detectedAt, f.decidedAt)}, promoted after ${ms(f.decidedAt, f.promotedAt)}`;
}

// ---- availability -----------------------------------------------------------------------------

async function loadAvailability() {
  const data = await getJson("/v1/availability");
  const rows = data.services.map((s) => {
    const hour = s.windows["1h"] ?? {}, day = s.windows["1d"] ?? {};
    const cls = (v) => (v !== null && v !== undefined && v < 0.999 ? "pct-bad" : null);
    return el("tr", { "data-service": s.name },
      el("th", { scope: "row", text: s.name }),
      el("td", { class: cls(hour.availability), text: pct(hour.availability) }),
      el("td", { class: cls(day.availability), text: pct(day.availability) }),
      el("td", { text: day.outages ?? "—" }),
      el("td", { text: duration(day.longestOutageSeconds) }),
      el("td", { text: s.predicted === null || s.predicted === undefined ? "no model configured" : pct(s.predicted) }));
  });
  $("availability-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "6", text: "No history yet." }))]));
}

// ---- events -----------------------------------------------------------------------------------

function category(e) {
  // Reports are the gateway's passive evidence about an instance (failed requests), so they sit with health changes.
  if (e.type === "health" || e.type === "report") return "health";
  if (e.type === "alert") return "alert";
  if (["registered", "deregistered", "removed", "draining"].includes(e.type)) return "membership";
  if (["failover", "switchover", "elected", "promoted", "demoted", "drill"].includes(e.type) || e.type.includes("failover")) return "failover";
  return "other";
}

function tone(e) {
  if (e.type === "health") return e.to === "critical" ? "bad" : e.to === "suspect" ? "warn" : "good";
  if (e.type === "brake-engaged" || (e.type === "alert" && e.to === "failed")) return "bad";
  if (e.type === "report") return "warn";
  if (category(e) === "failover") return "warn";
  return null;
}

function describe(e) {
  const who = e.instance ? `${e.service}/${e.instance}` : e.service;
  if (e.type === "health") return `${who}: ${e.from} → ${e.to}`;
  if (e.type === "report") return `${who}: failure reported by a gateway`;
  if (e.type === "alert") return `alert ${e.evidence?.alertname ?? ""} ${e.evidence?.status ?? ""} ${e.to ?? ""}`;
  if (category(e) === "failover") return `group ${e.service}: ${e.type} ${e.from ?? "—"} → ${e.to ?? "—"}${e.evidence?.epoch ? ` (epoch ${e.evidence.epoch})` : ""}`;
  return `${who}: ${e.type}${e.to ? ` → ${e.to}` : ""}`;
}

function eventItem(e) {
  const at = new Date(e.time);
  const evidence = e.evidence && Object.keys(e.evidence).length
    ? el("details", {}, el("summary", { text: "evidence" }), el("pre", { text: JSON.stringify(e.evidence, null, 1) }))
    : null;
  return el("li", { "data-type": e.type, "data-tone": tone(e), "data-revision": e.revision },
    el("time", { datetime: e.time, text: at.toLocaleTimeString([], { hour12: false }) }),
    el("span", { class: "what", text: describe(e) }),
    e.cause ? el("span", { class: "cause", text: e.cause }) : null,
    evidence);
}

function renderEvents() {
  const shown = state.events.filter((e) => state.filter === "all" || category(e) === state.filter);
  $("event-list").replaceChildren(...shown.slice(-100).reverse().map(eventItem));
}

function remember(e) {
  if (e.revision <= state.lastRevision) return false;
  state.lastRevision = e.revision;
  state.events.push(e);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  if (e.type === "health" && e.instance) state.lastCause.set(`${e.service}/${e.instance}`, e);
  return true;
}

let refreshTimer = null;
let lastAvailability = 0;
function scheduleRefresh() {
  // Coalesce bursts (a mass failure is dozens of events) into one re-read of the registry.
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    await loadServices().catch(showError);
    if (Date.now() - lastAvailability > 5000) {
      lastAvailability = Date.now();
      loadAvailability().catch(showError);
      loadGroups();
    }
  }, 150);
}

function showError(error) {
  console.warn(error);
}

// The event stream is read with fetch, not EventSource, because EventSource cannot send an Authorization header.
async function connect() {
  const status = $("connection");
  for (;;) {
    try {
      const response = await fetch(`/v1/events/stream?after=${state.lastRevision}`,
        { headers: authHeaders({ accept: "text/event-stream" }), cache: "no-store", credentials: "omit" });
      if (response.status === 401 || response.status === 403) { askForToken("This server needs a token (a read token is enough)."); throw new Error("unauthorized"); }
      if (!response.ok || !response.body) throw new Error(`stream: ${response.status}`);
      status.dataset.state = "live"; status.textContent = "Live"; scheduleRefresh();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
          if (!data) continue;
          let e;
          try { e = JSON.parse(data); } catch { continue; }
          if (!remember(e)) continue;
          if (!state.paused) renderEvents();
          scheduleRefresh();
        }
      }
    } catch (error) { showError(error); }
    status.dataset.state = "reconnecting"; status.textContent = "Reconnecting…";
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function start() {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token-input").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    location.reload();
  });
  $("event-filter").addEventListener("change", (ev) => { state.filter = ev.target.value; renderEvents(); });
  $("pause").addEventListener("click", (ev) => {
    state.paused = !state.paused;
    ev.target.setAttribute("aria-pressed", String(state.paused));
    ev.target.textContent = state.paused ? "Resume" : "Pause";
    if (!state.paused) renderEvents();
  });
  try {
    const history = await getJson("/v1/events?limit=200");
    // The history is ordered by event key, which concurrent writers can commit out of revision order; the stream is by revision.
    for (const e of history.events.sort((a, b) => a.revision - b.revision)) remember(e);
    renderEvents();
  } catch (error) { showError(error); }
  await Promise.all([loadServices().catch(showError), loadAvailability().catch(showError), loadGroups()]);
  lastAvailability = Date.now();
  connect();
  setInterval(tickHeartbeats, 1000);
  setInterval(() => { loadAvailability().catch(showError); lastAvailability = Date.now(); }, 30000);
}

document.addEventListener("DOMContentLoaded", start);
