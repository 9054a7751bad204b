// The emulator's dashboard: renders the state and the trace that
// api/events streams, and drives the send form and the test client.
// Everything from the emulator is shown as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const feedLimit = 500;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- state ----

let clockOffset = 0; // emulator time minus page time, in ms

function age(connectedAt) {
  const s = Math.max(0, Math.floor((Date.now() + clockOffset - Date.parse(connectedAt)) / 1000));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function renderState(st) {
  clockOffset = Date.parse(st.now) - Date.now();
  $("endpoint").textContent = st.endpoint;
  $("key").textContent = st.defaultKey ? "· well-known development key" : "· custom access key (not shown)";
  const hubs = $("hubs");
  hubs.replaceChildren();
  $("no-hubs").hidden = st.hubs.length > 0;
  const names = $("hub-names");
  names.replaceChildren(...st.hubs.map((h) => el("option", { value: h.name })));
  for (const h of st.hubs) {
    const sec = el("section", { class: "hub", "data-hub": h.name });
    sec.append(el("h3", {}, "Hub " + h.name + " · " + h.connections.length + " connection" + (h.connections.length === 1 ? "" : "s")));
    if (h.eventHandlers.length > 0) {
      sec.append(el("p", { class: "muted" }, "Event handlers: " + h.eventHandlers.join(", ")));
    }
    if (h.connections.length > 0) {
      const tbody = el("tbody");
      for (const c of h.connections) {
        const state = c.detached ? " (detached)" : "";
        tbody.append(el("tr", { "data-connection-id": c.id },
          el("td", { class: "id", "data-label": "Connection" }, c.id + state),
          el("td", { class: "user", "data-label": "User" }, c.userId || "(anonymous)"),
          el("td", { class: "groups", "data-label": "Groups" }, c.groups.join(", ")),
          el("td", { class: "roles", "data-label": "Roles" }, c.roles.join(", ")),
          el("td", { class: "subprotocol", "data-label": "Subprotocol" }, c.subprotocol || "(raw)"),
          el("td", { class: "age", "data-label": "Age", "data-connected-at": c.connectedAt }, age(c.connectedAt))));
      }
      const head = el("tr", {}, ...["Connection", "User", "Groups", "Roles", "Subprotocol", "Age"].map((t) => el("th", {}, t)));
      sec.append(el("div", { class: "table" }, el("table", {}, el("thead", {}, head), tbody)));
    }
    if (h.groups.length > 0) {
      sec.append(el("p", { class: "muted" }, "Groups"));
      const ul = el("ul", { class: "groups" });
      for (const g of h.groups) {
        ul.append(el("li", { "data-group": g.name }, el("b", {}, g.name), ": " + g.members.join(", ")));
      }
      sec.append(ul);
    }
    hubs.append(sec);
  }
}

setInterval(() => {
  for (const td of document.querySelectorAll("td.age")) td.textContent = age(td.dataset.connectedAt);
}, 1000);

// ---- trace feed ----

function fieldText(v) {
  if (typeof v === "string") return /^[^\s"=]*$/.test(v) && v !== "" ? v : JSON.stringify(v);
  return String(v);
}

function addTrace(line) {
  const feed = $("feed");
  const parts = line.fields.filter(([, v]) => v !== "").map(([k, v]) => k + "=" + fieldText(v));
  const li = el("li", { "data-kind": line.kind }, line.time + " ", el("span", { class: "kind" }, line.kind), " " + parts.join(" "));
  const atEnd = feed.scrollHeight - feed.scrollTop - feed.clientHeight < 20;
  feed.append(li);
  while (feed.children.length > feedLimit) feed.firstElementChild.remove();
  if (atEnd) feed.scrollTop = feed.scrollHeight;
}

$("feed-clear").addEventListener("click", () => $("feed").replaceChildren());

// ---- the event stream ----

function connectEvents() {
  const es = new EventSource("api/events");
  es.addEventListener("open", () => { $("status").textContent = "live"; $("status").className = "status live"; });
  es.addEventListener("error", () => { $("status").textContent = "reconnecting…"; $("status").className = "status down"; });
  es.addEventListener("state", (ev) => renderState(JSON.parse(ev.data)));
  es.addEventListener("trace", (ev) => addTrace(JSON.parse(ev.data)));
}
connectEvents();

// ---- posting ----

async function post(path, body) {
  const resp = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const text = await resp.text();
  let answer;
  try { answer = JSON.parse(text); } catch { answer = { error: text }; }
  if (!resp.ok) throw new Error(answer.error || resp.status + " " + resp.statusText);
  return answer;
}

function showResult(out, ok, text) {
  out.textContent = text;
  out.className = ok ? "ok" : "bad";
}

// ---- the send form ----

function updateIdField() {
  const all = $("send-target").value === "all";
  $("send-id").disabled = all;
  $("send-id").required = !all;
}
$("send-target").addEventListener("change", updateIdField);
updateIdField();

$("send-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("send-result");
  const target = $("send-target").value;
  const body = { hub: $("send-hub").value.trim(), target, id: target === "all" ? "" : $("send-id").value, dataType: $("send-type").value, data: $("send-data").value };
  try {
    const res = await post("api/send", body);
    if (res.status === 202) showResult(out, true, "Sent to " + (target === "all" ? "all" : target + " " + body.id) + " (202 Accepted)");
    else showResult(out, false, "The REST API answered " + res.status + (res.detail ? ": " + res.detail : ""));
  } catch (err) {
    showResult(out, false, "Not sent: " + err.message);
  }
});

// ---- the test client ----

let ws = null;
let ackId = 0;

function tcLog(text) {
  const log = $("tc-log");
  log.append(el("li", {}, text));
  while (log.children.length > feedLimit) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

function tcConnected(on) {
  $("tc-connect").disabled = on;
  $("tc-disconnect").disabled = !on;
  for (const id of ["tc-join", "tc-leave", "tc-send"]) $(id).disabled = !on;
}

function payload(m) {
  if (m.dataType === "json") return JSON.stringify(m.data);
  if (m.dataType === "binary") return "(binary, base64) " + m.data;
  return m.data;
}

function tcSend(frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  frame.ackId = ++ackId;
  ws.send(JSON.stringify(frame));
}

$("tc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (ws) return;
  const hub = $("tc-hub").value.trim();
  const group = $("tc-group").value.trim();
  $("tc-status").textContent = "connecting…";
  let url;
  try {
    ({ url } = await post("api/client-token", { hub, userId: $("tc-user").value.trim(), groups: group ? [group] : [] }));
  } catch (err) {
    $("tc-status").textContent = "no token: " + err.message;
    return;
  }
  if (group) $("tc-action-group").value = group;
  ws = new WebSocket(url, "json.webpubsub.azure.v1");
  url = "";
  tcConnected(true);
  ws.addEventListener("message", (e) => {
    let m;
    try { m = JSON.parse(e.data); } catch { tcLog("unreadable frame"); return; }
    if (m.type === "system" && m.event === "connected") {
      $("tc-status").textContent = "connected to hub " + hub + " as " + (m.userId || "(anonymous)") + ", connection " + m.connectionId;
      tcLog("connected: " + m.connectionId);
    } else if (m.type === "system" && m.event === "disconnected") {
      tcLog("disconnected: " + m.message);
    } else if (m.type === "message" && m.from === "group") {
      tcLog("from group " + m.group + (m.fromUserId ? " (" + m.fromUserId + ")" : "") + ": " + payload(m));
    } else if (m.type === "message") {
      tcLog("from server: " + payload(m));
    } else if (m.type === "ack") {
      tcLog("ack " + m.ackId + ": " + (m.success ? "ok" : (m.error && m.error.name) + " " + (m.error && m.error.message)));
    } else {
      tcLog(m.type + " frame");
    }
  });
  ws.addEventListener("close", (e) => {
    $("tc-status").textContent = "closed (" + e.code + (e.reason ? ": " + e.reason : "") + ")";
    ws = null;
    tcConnected(false);
  });
});

$("tc-disconnect").addEventListener("click", () => { if (ws) ws.close(1000); });
$("tc-join").addEventListener("click", () => tcSend({ type: "joinGroup", group: $("tc-action-group").value.trim() }));
$("tc-leave").addEventListener("click", () => tcSend({ type: "leaveGroup", group: $("tc-action-group").value.trim() }));
$("tc-send").addEventListener("click", () => tcSend({ type: "sendToGroup", group: $("tc-action-group").value.trim(), dataType: "text", data: $("tc-text").value }));
