// agentmem inspector: plain DOM + inline SVG, no dependencies. Memory text is only ever set
// through textContent (never parsed as HTML).
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem("agentmem.key") || "", user: null, features: null };

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = {};
  if (state.key) headers.Authorization = "Bearer " + state.key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) {
    let msg = String(r.status);
    try { const j = await r.json(); msg += ": " + (j.message || j.error); } catch (e) { /* not JSON */ }
    throw new ApiError(r.status, msg);
  }
  if (r.status === 204) return null;
  return (r.headers.get("content-type") || "").includes("application/json") ? r.json() : r.text();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function tip(node, text) { node.append(svg("title", {}, text)); return node; }
function short(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }
function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : ""; }
function userPath(suffix) { return "/v1/users/" + encodeURIComponent(state.user) + suffix; }

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function fail(err) { setStatus(err instanceof ApiError ? err.message : String(err), true); }

// -- connect ---------------------------------------------------------------------------------
async function connect(event) {
  if (event) event.preventDefault();
  state.key = $("key").value.trim();
  sessionStorage.setItem("agentmem.key", state.key);
  try {
    state.features = await api("GET", "/v1/inspector");
    const { users } = await api("GET", "/v1/users");
    const select = $("user");
    select.replaceChildren(...users.map((u) => el("option", { value: u }, u)));
    select.disabled = users.length === 0;
    const wanted = new URLSearchParams(location.hash.slice(1)).get("user");
    state.user = users.includes(wanted) ? wanted : users[0] || null;
    if (state.user) select.value = state.user;
    const on = ["episodes", "graph", "thoughts"].filter((f) => state.features[f]);
    setStatus(`${users.length} user(s); mechanisms on: turns${on.length ? ", " + on.join(", ") : ""}`);
    await loadUser();
  } catch (err) { fail(err); }
}

async function loadUser() {
  clearSearch();
  if (!state.user) { $("timeline").replaceChildren(); $("thoughts").replaceChildren(); return; }
  location.hash = "user=" + encodeURIComponent(state.user);
  await Promise.all([loadTimeline(), loadThoughts(), loadFacts()]);
}

// -- timeline --------------------------------------------------------------------------------
async function loadTimeline() {
  const data = await api("GET", userPath("/timeline?limit=2000"));
  drawTimeline(data);
}

function drawTimeline(data) {
  const turns = data.turns;
  const box = $("timeline");
  const W = Math.max(640, box.clientWidth || 900), H = 190, L = 44, R = 12, TOP = 8, BAND = 18;
  const plotTop = TOP + BAND + 10, plotBottom = H - 24;
  const n = turns.length;
  const x = (i) => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
  const root = svg("svg", { width: "100%", viewBox: `0 0 ${W} ${H}`, id: "timeline-svg", role: "img" });
  root.append(svg("desc", {}, "turns in order; episode bands on top, surprise curve below"));
  const scored = turns.map((t, i) => [i, t.surprise]).filter(([, s]) => s !== null);
  $("timeline-note").textContent = data.episodes
    ? `${n} turns, ${data.method} scores${data.truncated ? " (first turns only)" : ""}`
    : `${n} turns; episodes are off on this server (AGENTMEM_EPISODES), so there is no surprise curve`;
  // episode bands: consecutive turns with the same episode id
  let start = 0, band = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && turns[i].episode_id === turns[start].episode_id && turns[i].session_id === turns[start].session_id) continue;
    const ep = turns[start].episode_id;
    const half = n <= 1 ? 6 : (W - L - R) / (n - 1) / 2;
    const rect = svg("rect", { x: x(start) - half, y: TOP, width: Math.max(2, x(i - 1) - x(start) + 2 * half), height: BAND,
      fill: ep ? (band % 2 ? "#bfdbfe" : "#93c5fd") : "#e5e7eb", "fill-opacity": turns[start].open ? 0.45 : 1,
      class: "episode" });
    tip(rect, ep ? `episode ${ep.slice(0, 8)}: turns ${start + 1}–${i}${turns[start].open ? " (open tail)" : ""}` : "no episode");
    root.append(rect);
    band += 1; start = i;
  }
  for (let i = 0; i < n; i++) {
    const sessionChange = i > 0 && turns[i].session_id !== turns[i - 1].session_id;
    if (turns[i].boundary || sessionChange) {
      const bx = (x(i - 1) + x(i)) / 2;
      root.append(svg("line", { x1: bx, x2: bx, y1: TOP, y2: plotBottom, class: "boundary",
        stroke: sessionChange ? "#9ca3af" : "#dc2626", "stroke-dasharray": sessionChange ? "2 3" : "4 2" }));
    }
  }
  root.append(svg("line", { x1: L, x2: W - R, y1: plotBottom, y2: plotBottom, stroke: "#9ca3af" }));
  let y = () => (plotTop + plotBottom) / 2;
  if (scored.length) {
    const vals = scored.map(([, s]) => s);
    const lo = Math.min(...vals), hi = Math.max(...vals), span = hi - lo || 1;
    y = (s) => plotBottom - ((s - lo) / span) * (plotBottom - plotTop);
    root.append(svg("polyline", { points: scored.map(([i, s]) => `${x(i)},${y(s)}`).join(" "), fill: "none",
      stroke: "#d97706", "stroke-width": 1.5, id: "surprise-curve" }));
    root.append(svg("text", { x: 4, y: plotTop + 4 }, hi.toFixed(2)));
    root.append(svg("text", { x: 4, y: plotBottom }, lo.toFixed(2)));
  }
  turns.forEach((t, i) => {
    const dot = svg("circle", { cx: x(i), cy: t.surprise === null ? (plotTop + plotBottom) / 2 : y(t.surprise), r: 3,
      fill: t.boundary ? "#dc2626" : "#374151", class: "turn" });
    const s = t.surprise === null ? "" : ` — ${data.method} ${t.surprise.toFixed(3)}`;
    tip(dot, `#${i + 1} ${when(t.timestamp)} ${t.speaker}: ${short(t.text, 160)}${s}`);
    dot.addEventListener("click", () => {
      $("turn-detail").textContent = `#${i + 1} [${when(t.timestamp)} ${t.session_id || ""}] ${t.speaker}: ${t.text}${s}`;
    });
    root.append(dot);
  });
  root.append(svg("text", { x: L, y: H - 6 }, "turn 1"));
  root.append(svg("text", { x: W - R, y: H - 6, "text-anchor": "end" }, `turn ${n}`));
  box.replaceChildren(root);
}

// -- search ----------------------------------------------------------------------------------
function clearSearch() {
  $("hits").replaceChildren();
  $("graph").replaceChildren();
  $("explain-title").textContent = "";
}

async function search(event) {
  event.preventDefault();
  const query = $("query").value.trim();
  if (!query || !state.user) return;
  clearSearch();
  try {
    const { hits } = await api("POST", userPath("/search"), { query, k: Number($("k").value) || 8 });
    if (!hits.length) $("hits").append(el("li", {}, "no hits"));
    let explained = false;
    for (const h of hits) {
      const signals = Object.entries(h.signals).sort((a, b) => a[1] - b[1]);
      const chips = signals.map(([name, rank]) => {
        const score = h.signal_scores[name];
        return el("span", { class: "chip " + name }, `${name} #${rank}` + (score === undefined ? "" : ` · ${score.toFixed(3)}`));
      });
      const graphHit = h.kind === "turn" && (state.features || {}).graph && ("graph" in h.signals);
      const meta = el("div", { class: "meta" }, `${h.kind} · fused ${h.score.toFixed(4)} · ${when(h.timestamp)} · `, ...chips);
      const item = el("li", { class: "hit" }, el("div", {}, (h.speaker ? h.speaker + ": " : "") + short(h.text, 400)), meta);
      if (graphHit) {
        meta.append(el("button", { type: "button", class: "small", onclick: () => explain(query, h).catch(fail) }, "graph path"));
        if (!explained) { explained = true; await explain(query, h); }
      }
      $("hits").append(item);
    }
    setStatus(`${hits.length} hit(s)`);
  } catch (err) { fail(err); }
}

async function explain(query, hit) {
  const data = await api("POST", userPath("/explain"), { query, memory_id: hit.id });
  $("explain-title").textContent =
    `Graph path to "${short(hit.text, 60)}" — PageRank rank ${data.rank}, mass ${data.mass.toExponential(2)}`;
  drawGraph(data);
}

function drawGraph(data) {
  const facts = data.nodes.filter((n) => n.kind === "fact");
  const ents = data.nodes.filter((n) => n.kind === "entity").sort((a, b) => b.mass - a.mass);
  const passage = data.nodes.find((n) => n.kind === "passage");
  const rows = Math.max(facts.length, ents.length, 1);
  const W = 960, H = 40 + rows * 30, FX = 320, EX = 600, PX = 880;
  const pos = new Map();
  const column = (nodes, cx) => nodes.forEach((n, i) => pos.set(n.id, [cx, 30 + ((i + 0.5) * (H - 40)) / nodes.length]));
  column(facts, FX); column(ents, EX); column([passage], PX);
  const maxMass = Math.max(...data.nodes.map((n) => n.mass), 1e-12);
  const root = svg("svg", { width: "100%", viewBox: `0 0 ${W} ${H}`, id: "graph-svg", role: "img" });
  root.append(svg("text", { x: FX, y: 14, "text-anchor": "end" }, "seed facts (score)"));
  root.append(svg("text", { x: EX, y: 14, "text-anchor": "middle" }, "entities (PageRank mass; dark: seeded)"));
  root.append(svg("text", { x: PX, y: 14, "text-anchor": "middle" }, "passage (rank)"));
  const maxW = Math.max(...data.edges.map((e) => e.weight), 1e-12);
  for (const e of data.edges) {
    const [x1, y1] = pos.get(e.source) || [0, 0], [x2, y2] = pos.get(e.target) || [0, 0];
    const same = x1 === x2;
    const d = same ? `M${x1},${y1} Q${x1 + 40 + Math.abs(y2 - y1) / 3},${(y1 + y2) / 2} ${x2},${y2}` : `M${x1},${y1} L${x2},${y2}`;
    root.append(tip(svg("path", { d, fill: "none", stroke: "#6b7280", "stroke-opacity": 0.25 + 0.6 * (e.weight / maxW),
      "stroke-width": 1 + 1.5 * (e.weight / maxW), class: "edge" }), `weight ${e.weight.toFixed(3)}`));
  }
  for (const n of data.nodes) {
    const [cx, cy] = pos.get(n.id);
    const r = n.kind === "fact" ? 5 : 4 + 12 * Math.sqrt(n.mass / maxMass);
    const fill = n.kind === "fact" ? "#d97706" : n.kind === "passage" ? "#16a34a" : n.seed > 0 ? "#2563eb" : "#93c5fd";
    root.append(tip(svg("circle", { cx, cy, r, fill, class: "node " + n.kind }),
      `${n.kind}: ${n.label}\nseed ${n.seed.toFixed(4)} · mass ${n.mass.toExponential(3)}`));
    const label = n.kind === "fact" ? `${short(n.label, 44)} (${n.seed.toFixed(2)})`
      : n.kind === "entity" ? `${short(n.label, 22)} ${n.mass.toExponential(1)}` : `#${data.rank}`;
    const anchor = n.kind === "fact" ? "end" : "start";
    root.append(svg("text", { x: n.kind === "fact" ? cx - 9 : cx + r + 4, y: cy + 4, "text-anchor": anchor }, label));
  }
  if (!facts.length) root.append(svg("text", { x: FX, y: H / 2, "text-anchor": "end" }, "no seed facts"));
  $("graph").replaceChildren(root);
}

// -- thoughts and facts ----------------------------------------------------------------------
async function loadThoughts() {
  const table = $("thoughts");
  if (!(state.features || {}).thoughts) { table.replaceChildren(el("tr", {}, el("td", {}, "thoughts are off"))); return; }
  const { thoughts } = await api("GET", userPath("/thoughts?include_forgotten=true"));
  const head = el("tr", {}, ...["thought", "created", "updated", "valid", "recalled", "merged from", ""].map((h) => el("th", {}, h)));
  const rows = thoughts.map((t) => el("tr", { class: t.valid_to ? "gone" : "" },
    el("td", {}, t.text), el("td", {}, when(t.created_at)), el("td", {}, when(t.updated_at)),
    el("td", {}, `${when(t.valid_from)} → ${t.valid_to ? when(t.valid_to) + " (forgotten)" : "now"}`),
    el("td", {}, `${t.recall_count}×`), el("td", {}, t.merged_from.length ? `${t.merged_from.length} thought(s)` : ""),
    el("td", {}, t.valid_to ? "" : el("button", { type: "button", onclick: () => forget(t.id) }, "forget"))));
  table.replaceChildren(head, ...(rows.length ? rows : [el("tr", {}, el("td", {}, "no thoughts yet"))]));
}

async function forget(id) {
  try { await api("DELETE", userPath("/thoughts/" + encodeURIComponent(id))); await loadThoughts(); } catch (err) { fail(err); }
}

// Facts with validity, shown when the server has a /facts route (the inspector lists its fields as given).
async function loadFacts() {
  const card = $("facts-card");
  card.hidden = !(state.features || {}).facts;
  if (card.hidden) return;
  const data = await api("GET", userPath("/facts"));
  const facts = Array.isArray(data) ? data : data.facts || data.items || [];
  const cols = [...new Set(facts.flatMap((f) => Object.keys(f).filter((k) => typeof f[k] !== "object" || f[k] === null)))]
    .filter((k) => k !== "id").slice(0, 8);
  const rows = facts.map((f) => el("tr", { class: f.valid_to ? "gone" : "" }, ...cols.map((c) => el("td", {}, f[c] === null || f[c] === undefined ? "" : String(f[c])))));
  $("facts").replaceChildren(el("tr", {}, ...cols.map((c) => el("th", {}, c))), ...rows);
}

// -- export / delete -------------------------------------------------------------------------
async function exportUser() {
  if (!state.user) return;
  try {
    const text = await api("GET", userPath("/export"));
    const link = $("download");
    URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
    link.download = `${state.user}.jsonl`;
    link.click();
    setStatus(`exported ${text.split("\n").filter(Boolean).length} memories`);
  } catch (err) { fail(err); }
}

async function deleteUser() {
  if (!state.user || !confirm(`Delete user ${state.user} and everything derived from their memories?`)) return;
  try { const { deleted } = await api("DELETE", userPath("")); setStatus(`deleted ${deleted} records`); await connect(); }
  catch (err) { fail(err); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key").value = state.key;
  $("login").addEventListener("submit", connect);
  $("user").addEventListener("change", () => { state.user = $("user").value; loadUser().catch(fail); });
  $("search-form").addEventListener("submit", search);
  $("export").addEventListener("click", exportUser);
  $("delete-user").addEventListener("click", deleteUser);
  if (state.key || location.hash) connect();
});
