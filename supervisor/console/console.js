// callvisor operator console: polls GET /console/state and draws it; no build step, no library.
// Every string from the service goes into the page as text (textContent), never as HTML.
"use strict";

const POLL_MS = 500;          // the next refresh starts this long after the last one ended
const RETRY_MS = 2000;        // after a failed refresh
const DECISIONS_KEPT = 300;   // as many as the service's ring holds

const view = { tenant: "", offset: 0, perPage: 50, decisionsSeq: 0, decisions: [], calls: new Map() };

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (Math.abs(s) < 120) return `${s.toFixed(1)} s`;
  if (Math.abs(s) < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function clock(unix) {
  return unix ? new Date(unix * 1000).toLocaleTimeString([], { hour12: false }) : "–";
}

function showResult(text, bad) {
  const result = $("result");
  result.textContent = text;
  result.className = bad ? "result bad" : "result";
}

// -- health ----------------------------------------------------------------------------------

function dependencyText(dep) {
  let text = dep.state;
  if (dep.source) text = `${dep.source}: ${text}`;
  if (dep.last_failure_at) text += ` (last failure ${dep.last_reason || "?"} at ${dep.last_failure_at})`;
  return text;
}

function drawHealth(state) {
  const rows = [
    ["ready", state.health.ready ? "yes" : "no", state.health.ready ? "ok" : "failing", "health-ready"],
    ["draining", state.draining ? "yes" : "no", state.draining ? "draining" : "ok", "health-draining"],
  ];
  const deps = state.health.dependencies;
  if (deps) {
    rows.push(["tenant store", dependencyText(deps.tenant_store), deps.tenant_store.state, "health-tenant-store"]);
    rows.push(["OpenAI call control", dependencyText(deps.call_control), deps.call_control.state, "health-call-control"]);
  }
  $("health").replaceChildren(...rows.flatMap(([name, value, cls, id]) => [
    el("dt", {}, name), el("dd", { id, class: `state-${cls}` }, value),
  ]));
  $("drain").disabled = state.draining;
}

// -- capacity --------------------------------------------------------------------------------

function bar(label, used, limit, attrs) {
  const share = limit > 0 ? Math.min(used / limit, 1) : 0;
  const fill = el("div", { class: "fill" });
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  return el("div", { class: share >= 1 ? "bar full" : "bar", ...attrs },
    el("div", { class: "label" }, el("span", {}, label), el("span", { class: "used" }, `${used} / ${limit}`)),
    el("div", { class: "track" }, fill));
}

function drawCapacity(state) {
  const cap = state.capacity;
  const bars = [bar("all tenants", cap.used, cap.limit, { id: "cap-global" })];
  for (const t of cap.tenants) {
    const own = t.limit !== null && t.limit !== undefined;
    const label = own ? t.tenant_id : `${t.tenant_id} (global limit)`;
    bars.push(bar(label, t.used, own ? t.limit : cap.limit, { "data-tenant": t.tenant_id, class: "bar tenant" }));
  }
  $("capacity").replaceChildren(...bars);
}

// -- the tree --------------------------------------------------------------------------------

function taskItems(tasks) {
  return tasks.map((task) => {
    const name = task.task;
    const reader = name.endsWith("WebSocketConnection._reader_task");
    const label = reader ? `sideband reader (${name})` : name;
    const cls = name.startsWith("tool:") ? "task tool" : "task";
    const item = el("li", { class: cls, "data-task": name }, label);
    if (task.children && task.children.length) item.append(el("ul", {}, ...taskItems(task.children)));
    return item;
  });
}

function callLine(call) {
  const tools = call.tools_running.length ? `tools: ${call.tools_running.join(", ")}` : "no tool running";
  const ends = call.deadline_in_s === null ? "no deadline yet" : `ends in ${seconds(call.deadline_in_s)}`;
  return [
    el("span", { class: "id" }, `call:${call.call_id}`),
    el("span", { class: "tenant" }, call.tenant_id || "unknown"),
    el("span", { class: "runtime" }, call.runtime === "live" ? "GPT-Live" : "Realtime"),
    el("span", { class: "state" }, call.end_reason ? `${call.state} (ending: ${call.end_reason})` : call.state),
    el("span", { class: "age" }, `age ${seconds(call.age_s)}`),
    el("span", { class: "deadline" }, ends),
    el("span", { class: "tools" }, tools),
  ];
}

function callItem(call) {
  let entry = view.calls.get(call.call_id);
  if (!entry) {
    const button = el("button", { type: "button", class: "danger hangup", "data-call-id": call.call_id }, "Hang up…");
    button.addEventListener("click", () => hangup(call.call_id));
    const line = el("span", { class: "fields" });
    const tasks = el("ul", { class: "tasks" });
    const item = el("li", { class: "actor", "data-call-id": call.call_id },
      el("div", { class: "call" }, line, button), tasks);
    entry = { item, line, tasks };
    view.calls.set(call.call_id, entry);
  }
  entry.line.replaceChildren(...callLine(call));
  entry.tasks.replaceChildren(...taskItems(call.tasks));
  return entry.item;
}

function drawTree(state) {
  const calls = state.calls;
  view.perPage = calls.per_page;
  const seen = new Set(calls.items.map((c) => c.call_id));
  for (const id of [...view.calls.keys()]) if (!seen.has(id)) view.calls.delete(id);
  const root = el("li", { class: "supervisor" }, `supervisor ${state.replica_id}`,
    el("ul", {}, ...calls.items.map(callItem)));
  if (!calls.items.length) root.lastChild.append(el("li", { class: "muted", id: "no-calls" }, "no live calls"));
  $("tree").replaceChildren(root);
  $("calls-count").textContent = `${calls.total} live call${calls.total === 1 ? "" : "s"} on this replica`;
  const last = Math.min(calls.offset + calls.items.length, calls.matching);
  $("page-info").textContent = calls.matching > calls.per_page
    ? `calls ${calls.offset + 1}–${last} of ${calls.matching}, oldest first` : "";
  $("page-prev").disabled = calls.offset === 0;
  $("page-next").disabled = last >= calls.matching;

  const filter = $("tenant-filter");
  const wanted = ["", ...state.by_tenant.map((t) => t.tenant_id)];
  if (view.tenant && !wanted.includes(view.tenant)) wanted.push(view.tenant);
  const have = [...filter.options].map((o) => o.value);
  if (wanted.join("\n") !== have.join("\n")) {
    filter.replaceChildren(...wanted.map((t) => el("option", { value: t }, t || "all tenants")));
    filter.value = view.tenant;
  }

  const head = el("tr", {}, el("th", {}, "tenant"), el("th", {}, "calls"), el("th", {}, "by state"), el("th", {}, "tools running"));
  const rows = state.by_tenant.map((t) => el("tr", { "data-tenant": t.tenant_id },
    el("td", {}, t.tenant_id), el("td", {}, String(t.calls)),
    el("td", {}, Object.entries(t.states).map(([s, n]) => `${s} ${n}`).join(", ")),
    el("td", {}, String(t.tools_running))));
  $("by-tenant").replaceChildren(...(rows.length ? [head, ...rows] : []));
  drawCluster(state.cluster);
}

function drawCluster(cluster) {
  const box = $("cluster");
  if (!cluster) { box.replaceChildren(); return; }
  const title = el("h3", {}, `Other replicas: ${cluster.total} call${cluster.total === 1 ? "" : "s"}`);
  if (cluster.error) title.append(el("span", { class: "state-failing" }, ` (MongoDB: ${cluster.error})`));
  const items = cluster.calls.map((c) => el("li", { class: "remote", "data-call-id": c.call_id },
    `call:${c.call_id}  ${c.tenant_id || "unknown"}  ${c.state}  on replica ${c.replica_id}` +
    (c.stale ? "  (lease expired)" : "")));
  box.replaceChildren(title, el("ul", { class: "tree" }, ...items));
}

// -- decisions -------------------------------------------------------------------------------

function outcomeText(d) {
  const outcome = d.reason ? `${d.outcome} ${d.reason}` : d.outcome;
  return d.cause ? `${outcome} (${d.cause})` : outcome;
}

function drawDecisions(state) {
  if (state.decisions_seq < view.decisionsSeq) view.decisions = [];  // the service restarted
  view.decisions = [...state.decisions, ...view.decisions].slice(0, DECISIONS_KEPT);
  view.decisionsSeq = state.decisions_seq;
  const rows = view.decisions.map((d) => el("tr", { "data-call-id": d.call_id },
    el("td", {}, clock(d.at)), el("td", {}, d.call_id), el("td", {}, d.tenant_id || "–"),
    el("td", { class: `outcome outcome-${d.outcome}` }, outcomeText(d)),
    el("td", {}, d.sip_status === null ? "–" : String(d.sip_status)),
    el("td", {}, d.decision_ms === null ? "–" : d.decision_ms.toFixed(1))));
  $("decisions").tBodies[0].replaceChildren(...rows);
  $("decisions-count").textContent = `(last ${view.decisions.length})`;
}

// -- refresh ---------------------------------------------------------------------------------

async function refresh() {
  const query = new URLSearchParams({ offset: String(view.offset), decisions_after: String(view.decisionsSeq) });
  if (view.tenant) query.set("tenant", view.tenant);
  try {
    const response = await fetch(`/console/state?${query}`, { cache: "no-store", credentials: "same-origin" });
    if (response.status === 401) { window.location.reload(); return; }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const state = await response.json();
    $("replica").textContent = state.replica_id;
    $("uptime").textContent = `up ${seconds(state.uptime_s)}`;
    $("sign-out-form").hidden = !state.token_required;
    drawHealth(state);
    drawCapacity(state);
    drawTree(state);
    drawDecisions(state);
    $("link").textContent = `live, refreshed ${clock(state.server_time)}`;
    $("link").className = "link ok";
    setTimeout(refresh, POLL_MS);
  } catch (error) {
    $("link").textContent = `not reaching the service (${error.message}); retrying`;
    $("link").className = "link down";
    setTimeout(refresh, RETRY_MS);
  }
}

// -- actions ---------------------------------------------------------------------------------

async function post(path) {
  const response = await fetch(path, { method: "POST", credentials: "same-origin" });
  let body = {};
  try { body = await response.json(); } catch (_) { /* not JSON: the status says enough */ }
  return { status: response.status, body };
}

async function hangup(callId) {
  if (!window.confirm(`Hang up call ${callId}?`)) { showResult(`hangup of ${callId} cancelled`); return; }
  try {
    const { status, body } = await post(`/actors/${encodeURIComponent(callId)}/hangup`);
    if (status === 202) {
      const where = body.forwarded ? ` (forwarded to replica ${body.replica_id})` : "";
      showResult(body.already_ending ? `call ${callId} was already ending` : `call ${callId} is hanging up${where}`);
    } else {
      showResult(`hangup of ${callId} refused: HTTP ${status} ${body.error || ""}`, true);
    }
  } catch (error) {
    showResult(`hangup of ${callId} failed: ${error.message}`, true);
  }
}

async function drain() {
  if (!window.confirm("Drain this replica? New calls are rejected; live calls get the grace period, then the process stops.")) {
    showResult("drain cancelled");
    return;
  }
  try {
    const { status, body } = await post("/drain");
    showResult(status === 202 ? "draining: new calls are rejected" : `drain refused: HTTP ${status} ${body.error || ""}`, status !== 202);
  } catch (error) {
    showResult(`drain failed: ${error.message}`, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("drain").addEventListener("click", drain);
  $("tenant-filter").addEventListener("change", (event) => { view.tenant = event.target.value; view.offset = 0; });
  $("page-prev").addEventListener("click", () => { view.offset = Math.max(0, view.offset - view.perPage); });
  $("page-next").addEventListener("click", () => { view.offset += view.perPage; });
  refresh();
});
