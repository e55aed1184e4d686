// The video wall: reads the wall feed (/ws/wall, snapshot then deltas) and
// draws the map and the side panel. Settings: the page URL's `token`,
// `central` and `tiles`, then config.json (served beside the page).

import "./style.css";
import catalogue from "./centrals.json";
import { formatClock, formatTime } from "./format.js";
import { MapView } from "./map.js";
import { Panel } from "./panel.js";
import { applyFrame, createState } from "./state.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const DEFAULTS = {
  tiles: "",
  tiles_attribution: "",
  time_zone: "America/Sao_Paulo",
  stale_after_s: 30,
  targets_min: { vermelho: 10, amarelo: 30, verde: 60 },
};

async function loadConfig() {
  let file = {};
  try {
    const res = await fetch("config.json", { cache: "no-store" });
    if (res.ok) file = await res.json();
  } catch {
    // No config.json: the defaults serve.
  }
  const config = { ...DEFAULTS, ...file };
  if (params.has("tiles")) config.tiles = params.get("tiles");
  return config;
}

const config = await loadConfig();
const token = params.get("token") ?? "";
const centralFilter = params.get("central") ?? "";
const centrals = catalogue.centrals;
const state = createState();
// The detail pane: when the map spans a whole state, the region around the
// central with the most units (a metropolitan area) gets the lower part of
// the map area, closer; the state map above shows those units as small dots
// inside a frame.
const DETAIL_MIN_UNITS = 6;
const DETAIL_RADIUS_KM = 40;
const DETAIL_WHEN_SPAN_KM = 150;
const inset = { view: null, centrals: new Set(), bounds: null };

const hasFix = (u) => Number.isFinite(u.lat) && Number.isFinite(u.lon);

function distanceKm(a, b) {
  const rad = Math.PI / 180;
  const x = (b.lon - a.lon) * rad * Math.cos(((a.lat + b.lat) / 2) * rad);
  const y = (b.lat - a.lat) * rad;
  return Math.hypot(x, y) * 6371;
}

/** The detail region, or null: {seat, region units, centrals}. */
function detailRegion(units) {
  const count = new Map();
  for (const u of units) count.set(u.central, (count.get(u.central) ?? 0) + 1);
  const [densest, n] = [...count.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0] ?? [null, 0];
  if (count.size < 2 || n < DETAIL_MIN_UNITS) return null;
  const lats = units.map((u) => u.lat);
  const lons = units.map((u) => u.lon);
  const span = distanceKm(
    { lat: Math.min(...lats), lon: Math.min(...lons) },
    { lat: Math.max(...lats), lon: Math.max(...lons) },
  );
  if (span < DETAIL_WHEN_SPAN_KM) return null;
  const own = units.filter((u) => u.central === densest);
  const seat = centrals.find((c) => c.id === densest)?.municipalities[0] ?? {
    name: densest,
    lat: own.reduce((s, u) => s + u.lat, 0) / own.length,
    lon: own.reduce((s, u) => s + u.lon, 0) / own.length,
  };
  const region = units.filter((u) => distanceKm(u, seat) <= DETAIL_RADIUS_KM);
  return { seat, region, centrals: new Set(region.map((u) => u.central)) };
}

/** Lays out the map area (one map, or state map + detail) and fits both. */
function layoutMaps() {
  const units = [...state.units.values()].filter(hasFix);
  const detail = detailRegion(units);
  const wrap = $("map-wrap");
  wrap.classList.toggle("split", Boolean(detail));
  $("inset").hidden = !detail;
  map.map.invalidateSize();
  inset.bounds = null;
  if (!detail) {
    map.setRegion(null);
    map.fit([...state.units.values()], { topLeft: [90, 130], bottomRight: [90, 90] });
    return;
  }
  inset.centrals = detail.centrals;
  if (!inset.view) inset.view = new MapView($("inset-map"), { tiles: config.tiles, attribution: "", centrals });
  inset.view.showCentrals([...inset.centrals]);
  const mine = [...state.units.values()].filter((u) => inset.centrals.has(u.central));
  inset.view.retain(new Set(mine.map((u) => u.id)));
  for (const u of mine) inset.view.upsert(u);
  inset.view.fit(detail.region, { topLeft: [50, 70], bottomRight: [50, 40], withAreas: false });
  inset.bounds = inset.view.map.getBounds();
  map.fit([...state.units.values()], { topLeft: [30, 56], bottomRight: [30, 24] });
  map.setRegion(inset.bounds);
  $("inset-title").textContent = `Detalhe: região de ${detail.seat.name}`;
}

const map = new MapView($("map"), {
  tiles: config.tiles,
  attribution: config.tiles_attribution,
  centrals,
  // Units shown in the inset are dots on the main map.
  dotted: (u) => Boolean(inset.bounds && inset.centrals.has(u.central) && inset.bounds.contains([u.lat, u.lon])),
});
const panel = new Panel({ centrals, targetsMin: config.targets_min });
let fitted = false;

if (centralFilter) {
  const c = centrals.find((x) => x.id === centralFilter);
  $("scope").textContent = c ? c.name : `Central ${centralFilter}`;
} else {
  $("scope").textContent = "Todas as centrais";
}
map.showCentrals(centralFilter ? [centralFilter] : []);
map.fit([]);

// --- rendering, throttled ----------------------------------------------------
let renderQueued = false;
function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    panel.render(state);
  }, 200);
}

function onFrame(frame) {
  const { snapshot, changed, removed, ignored } = applyFrame(state, frame);
  if (ignored) return;
  for (const id of removed) {
    map.remove(id);
    inset.view?.remove(id);
  }
  for (const id of changed) {
    const u = state.units.get(id);
    map.upsert(u);
    if (inset.view && inset.centrals.has(u.central)) inset.view.upsert(u);
  }
  if (snapshot) {
    const ids = [...new Set([...state.units.values()].map((u) => u.central))];
    const redraw = map.showCentrals(centralFilter ? [centralFilter] : ids);
    if (redraw || !fitted) {
      layoutMaps();
      fitted = true;
    }
    $("central-total").textContent = String(ids.length);
    $("central-noun").textContent = ids.length === 1 ? "central" : "centrais";
  }
  queueRender();
}

// --- connection: reconnects with exponential backoff -------------------------
const conn = {
  phase: "connecting", // connecting | open | down | notoken
  attempt: 0,
  retryAt: 0,
  lastFrame: 0,
  socket: null,
};

function wallUrl() {
  const url = new URL("ws/wall", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  if (token) url.searchParams.set("token", token);
  if (centralFilter) url.searchParams.set("central", centralFilter);
  return url;
}

function connect() {
  conn.phase = "connecting";
  showConnection();
  let ws;
  try {
    ws = new WebSocket(wallUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  conn.socket = ws;
  ws.onopen = () => {
    conn.phase = "open";
    showConnection();
  };
  ws.onmessage = (ev) => {
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    conn.lastFrame = Date.now();
    if (frame.type === "snapshot") conn.attempt = 0;
    onFrame(frame);
    if (conn.phase !== "open") {
      conn.phase = "open";
      showConnection();
    }
  };
  ws.onclose = () => {
    if (conn.socket !== ws) return;
    conn.socket = null;
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  const base = Math.min(30000, 1000 * 2 ** conn.attempt);
  const delay = Math.round(base * (0.8 + Math.random() * 0.4));
  conn.attempt = Math.min(conn.attempt + 1, 10);
  conn.phase = "down";
  conn.retryAt = Date.now() + delay;
  showConnection();
  setTimeout(connect, delay);
}

function showConnection() {
  const now = Date.now();
  const el = $("conn");
  const silentS = conn.lastFrame ? Math.floor((now - conn.lastFrame) / 1000) : 0;
  let cls;
  let text;
  if (conn.phase === "notoken") {
    cls = "down";
    text = "sem token";
  } else if (conn.phase === "open" && conn.lastFrame && silentS >= config.stale_after_s) {
    cls = "quiet";
    text = `sem atualização há ${silentS} s`;
  } else if (conn.phase === "open") {
    cls = "live";
    text = "ao vivo";
  } else if (conn.phase === "connecting") {
    cls = "wait";
    text = "conectando…";
  } else {
    cls = "down";
    const s = Math.max(0, Math.ceil((conn.retryAt - now) / 1000));
    text = `desconectado · nova tentativa em ${s} s`;
  }
  el.className = `conn ${cls}`;
  el.textContent = text;
  const stale = conn.lastFrame > 0 && (cls === "down" || cls === "wait" || cls === "quiet");
  document.body.dataset.connection = cls;
  document.body.classList.toggle("stale", stale && cls !== "quiet");
  $("stale-since").textContent = conn.lastFrame ? formatTime(new Date(conn.lastFrame), config.time_zone) : "";
}

// A socket that stays open but silent for long is reopened: the fresh
// snapshot tells whether the data is still current.
setInterval(() => {
  if (conn.phase === "open" && conn.socket && conn.lastFrame && Date.now() - conn.lastFrame > 3 * config.stale_after_s * 1000) {
    conn.socket.close();
  }
}, 5000);

// --- clock and elapsed times ---------------------------------------------------
function tick() {
  $("clock").textContent = formatClock(new Date(), config.time_zone);
  showConnection();
  if (state.occurrences.size) queueRender();
}
tick();
setInterval(tick, 1000);

if (token) {
  connect();
} else {
  conn.phase = "notoken";
  showConnection();
  document.body.classList.add("notoken");
}
panel.render(state);
