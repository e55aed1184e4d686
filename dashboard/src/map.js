// The map: Leaflet, every unit a marker coloured by status and labelled by
// type, moving smoothly between fixes; municipality circles and names so the
// map reads without any tile server.

import L from "leaflet";
import "leaflet/dist/leaflet.css";
import { esc } from "./format.js";
import { statusLabel } from "./labels.js";

const TYPE_ORDER = ["USA", "USB", "VIR", "MOTO", "AERO", "EMB"];
/** One-letter type on compact markers (state-wide view): Avançada, Básica… */
const TYPE_SHORT = { USA: "A", USB: "B", VIR: "V", MOTO: "M", AERO: "H", EMB: "E" };
/** Below this zoom, markers are compact (a letter in a shape per type). */
const COMPACT_BELOW_ZOOM = 9;

function unitNumber(u) {
  // "USA 01" -> "01"; other labels are shown whole.
  const label = String(u.label ?? "");
  return label.startsWith(`${u.type} `) ? label.slice(u.type.length + 1) : label;
}

function hasFix(u) {
  return Number.isFinite(u.lat) && Number.isFinite(u.lon);
}

export class MapView {
  /**
   * @param {HTMLElement} el
   * @param {{tiles?: string, attribution?: string, centrals: Array}} options
   */
  constructor(el, { tiles, attribution, centrals, dotted }) {
    this.el = el;
    this.dotted = dotted ?? (() => false);
    this.regionLayer = null;
    this.labels = [];
    this.centrals = new Map(centrals.map((c) => [c.id, c]));
    this.map = L.map(el, {
      zoomControl: false,
      attributionControl: Boolean(tiles),
      zoomSnap: 0.25,
      zoomDelta: 0.25,
      fadeAnimation: false,
      inertia: false,
      keyboard: false,
    });
    if (tiles) {
      L.tileLayer(tiles, { attribution: attribution || "", maxZoom: 19, crossOrigin: true }).addTo(this.map);
      el.classList.add("with-tiles");
    }
    this.areaLayer = L.layerGroup().addTo(this.map);
    this.unitLayer = L.layerGroup().addTo(this.map);
    this.markers = new Map();
    this.animating = new Set();
    this.rafPending = false;
    this.shownCentrals = "";
    this.layoutPending = false;
    this.map.setView([-19.9, -44.5], 7);
    this.map.on("zoomend", () => {
      this.el.classList.toggle("compact", this.isCompact());
      this.scheduleLayout();
    });
    this.frame = this.frame.bind(this);
  }

  /** Draws the municipalities of `centralIds` (all known ones when empty). */
  showCentrals(centralIds) {
    const ids = centralIds.length ? centralIds : [...this.centrals.keys()];
    const key = [...ids].sort().join(",");
    if (key === this.shownCentrals) return false;
    this.shownCentrals = key;
    this.areaLayer.clearLayers();
    this.labels = [];
    this.areaBounds = null;
    for (const id of ids) {
      const c = this.centrals.get(id);
      if (!c) continue;
      for (const m of c.municipalities) {
        const circle = L.circle([m.lat, m.lon], {
          radius: m.radius_km * 1000,
          color: "#6f8fc7",
          weight: 2,
          opacity: 0.7,
          dashArray: "8 8",
          fillColor: "#22365e",
          fillOpacity: 0.35,
          interactive: false,
        }).addTo(this.areaLayer);
        const bounds = circle.getBounds();
        this.areaBounds = this.areaBounds ? this.areaBounds.extend(bounds) : L.latLngBounds(bounds.getSouthWest(), bounds.getNorthEast());
        const label = L.marker([m.lat, m.lon], {
          icon: L.divIcon({
            className: "muni-icon",
            html: `<div class="muni-label">${esc(m.name)}</div>`,
            iconSize: [0, 0],
          }),
          interactive: false,
          keyboard: false,
          pane: "overlayPane",
        }).addTo(this.areaLayer);
        this.labels.push(label);
      }
    }
    return true;
  }

  /** Fits the view to the shown municipalities and the units with a fix. */
  fit(units, { topLeft = [70, 70], bottomRight = [70, 70], withAreas = true } = {}) {
    let bounds =
      withAreas && this.areaBounds ? L.latLngBounds(this.areaBounds.getSouthWest(), this.areaBounds.getNorthEast()) : null;
    for (const u of units) {
      if (!hasFix(u)) continue;
      bounds = bounds ? bounds.extend([u.lat, u.lon]) : L.latLngBounds([u.lat, u.lon], [u.lat, u.lon]);
    }
    if (bounds) {
      this.map.invalidateSize();
      this.map.fitBounds(bounds, { paddingTopLeft: topLeft, paddingBottomRight: bottomRight, animate: false, maxZoom: 13 });
      this.el.classList.toggle("compact", this.isCompact());
    }
    this.scheduleLayout();
  }

  /** Creates or updates a unit's marker. */
  upsert(u) {
    let m = this.markers.get(u.id);
    if (!hasFix(u)) {
      if (m) this.remove(u.id);
      return;
    }
    const target = L.latLng(u.lat, u.lon);
    const now = performance.now();
    if (!m) {
      const marker = L.marker(target, {
        icon: L.divIcon({ className: "unit-icon", html: "", iconSize: [0, 0] }),
        interactive: false,
        keyboard: false,
      });
      marker.addTo(this.unitLayer);
      const outer = marker.getElement();
      const inner = document.createElement("div");
      outer.appendChild(inner);
      m = { marker, inner, target, from: target, t0: now, dur: 0, lastFix: now, key: "" };
      this.markers.set(u.id, m);
    } else if (!m.target.equals(target)) {
      // Glide from where it is drawn now to the new fix, over about the
      // time between fixes (capped), so it moves continuously.
      m.from = m.marker.getLatLng();
      m.dur = Math.min(2000, Math.max(300, now - m.lastFix));
      m.t0 = now;
      m.target = target;
      m.lastFix = now;
      this.animating.add(u.id);
      if (!this.rafPending) {
        this.rafPending = true;
        requestAnimationFrame(this.frame);
      }
    }
    m.unit = u;
    const key = `${u.status}|${u.crew_complete}|${u.type}|${u.label}|${u.out_of_service_reason ?? ""}`;
    if (key !== m.key) {
      m.key = key;
      const el = m.inner;
      el.className = `unit-marker s-${u.status}${u.crew_complete ? "" : " crew-incomplete"}`;
      el.dataset.unitId = u.id;
      el.dataset.status = u.status;
      el.dataset.type = u.type;
      el.dataset.crewComplete = String(Boolean(u.crew_complete));
      if (u.out_of_service_reason) el.dataset.reason = u.out_of_service_reason;
      else delete el.dataset.reason;
      el.title = `${u.label} — ${statusLabel(u.status)}`;
      el.innerHTML =
        `<b>${esc(u.type)}</b><span>${esc(unitNumber(u))}</span>` +
        `<em>${esc(TYPE_SHORT[u.type] ?? u.type.slice(0, 1))}</em>`;
      el.classList.add(`t-${u.type}`);
    }
    this.scheduleLayout();
  }

  remove(id) {
    const m = this.markers.get(id);
    if (!m) return;
    this.unitLayer.removeLayer(m.marker);
    this.markers.delete(id);
    this.animating.delete(id);
    this.scheduleLayout();
  }

  /** Removes every marker whose unit is not in `ids`. */
  retain(ids) {
    for (const id of [...this.markers.keys()]) if (!ids.has(id)) this.remove(id);
  }

  frame(now) {
    this.rafPending = false;
    for (const id of this.animating) {
      const m = this.markers.get(id);
      if (!m) continue;
      const t = m.dur > 0 ? Math.min(1, (now - m.t0) / m.dur) : 1;
      const e = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
      m.marker.setLatLng([
        m.from.lat + (m.target.lat - m.from.lat) * e,
        m.from.lng + (m.target.lng - m.from.lng) * e,
      ]);
      if (t >= 1) this.animating.delete(id);
    }
    if (this.animating.size && !this.rafPending) {
      this.rafPending = true;
      requestAnimationFrame(this.frame);
    }
  }

  scheduleLayout() {
    if (this.layoutPending) return;
    this.layoutPending = true;
    setTimeout(() => {
      this.layoutPending = false;
      this.layout();
    }, 250);
  }

  isCompact() {
    return this.map.getZoom() < COMPACT_BELOW_ZOOM;
  }

  /**
   * Keeps markers readable where units stand together (several units at one
   * base, neighbouring cities at state zoom): markers closer than a marker's
   * size are laid out as a small grid around their common point, and grids
   * that would overlap are merged. Only the drawing moves; positions are
   * exact. Units the `dotted` option selects (those the detail inset shows)
   * are small dots at their place instead.
   */
  layout() {
    const compact = this.isCompact();
    const W = compact ? 30 : 76;
    const H = compact ? 30 : 36;
    const points = [...this.markers.entries()]
      .filter(([, m]) => {
        const dot = this.dotted(m.unit);
        m.inner.classList.toggle("dot", dot);
        if (dot) {
          m.inner.style.setProperty("--dx", "0px");
          m.inner.style.setProperty("--dy", "0px");
        }
        return !dot;
      })
      .map(([id, m]) => ({ id, m, p: this.map.latLngToLayerPoint(m.target) }))
      .sort((a, b) => {
        const ua = a.m.unit;
        const ub = b.m.unit;
        return (
          ua.central.localeCompare(ub.central) ||
          TYPE_ORDER.indexOf(ua.type) - TYPE_ORDER.indexOf(ub.type) ||
          String(ua.label).localeCompare(String(ub.label)) ||
          a.id.localeCompare(b.id)
        );
      });
    const clusters = [];
    for (const pt of points) {
      const near = clusters.find((c) => Math.abs(c.center.x - pt.p.x) < W * 0.8 && Math.abs(c.center.y - pt.p.y) < H * 0.8);
      if (near) near.members.push(pt);
      else clusters.push({ center: pt.p, members: [pt] });
    }
    const shape = (c) => {
      const k = c.members.length;
      const cols = Math.ceil(Math.sqrt(k * (compact ? 1 : 0.9)));
      const rows = Math.ceil(k / cols);
      return { cols, rows, hw: (cols * W) / 2 + 5, hh: (rows * H) / 2 + 5 };
    };
    const size = this.map.getSize();
    const view = L.bounds(
      this.map.containerPointToLayerPoint([8, 8]),
      this.map.containerPointToLayerPoint([size.x - 8, size.y - 8]),
    );
    // Grids that would overlap are pushed apart (a few rounds), so every
    // group stays near its place and none hides another.
    for (let round = 0; round < 100; round += 1) {
      let moved = false;
      for (let i = 0; i < clusters.length; i += 1) {
        for (let j = i + 1; j < clusters.length; j += 1) {
          const a = clusters[i];
          const b = clusters[j];
          const sa = shape(a);
          const sb = shape(b);
          const dx = b.center.x - a.center.x;
          const dy = b.center.y - a.center.y;
          const ox = sa.hw + sb.hw - Math.abs(dx);
          const oy = sa.hh + sb.hh - Math.abs(dy);
          if (ox <= 0 || oy <= 0) continue;
          moved = true;
          const na = a.members.length;
          const nb = b.members.length;
          // The smaller group moves more.
          const fa = nb / (na + nb);
          const fb = na / (na + nb);
          if (ox < oy) {
            const sgn = dx >= 0 ? 1 : -1;
            a.center = L.point(a.center.x - sgn * ox * fa, a.center.y);
            b.center = L.point(b.center.x + sgn * ox * fb, b.center.y);
          } else {
            const sgn = dy >= 0 ? 1 : -1;
            a.center = L.point(a.center.x, a.center.y - sgn * oy * fa);
            b.center = L.point(b.center.x, b.center.y + sgn * oy * fb);
          }
        }
      }
      // Keep every group inside the map.
      for (const c of clusters) {
        const { hw, hh } = shape(c);
        const x = Math.min(Math.max(c.center.x, view.min.x + hw), Math.max(view.min.x + hw, view.max.x - hw));
        const y = Math.min(Math.max(c.center.y, view.min.y + hh), Math.max(view.min.y + hh, view.max.y - hh));
        if (x !== c.center.x || y !== c.center.y) c.center = L.point(x, y);
      }
      if (!moved) break;
    }
    for (const c of clusters) {
      const k = c.members.length;
      const { cols, rows } = shape(c);
      c.members.forEach((pt, i) => {
        let dx = 0;
        let dy = 0;
        if (k > 1) {
          const col = i % cols;
          const row = Math.floor(i / cols);
          const inRow = row === rows - 1 ? k - row * cols : cols;
          dx = c.center.x + (col - (inRow - 1) / 2) * W - pt.p.x;
          dy = c.center.y + (row - (rows - 1) / 2) * H - pt.p.y;
        }
        pt.m.inner.style.setProperty("--dx", `${Math.round(dx)}px`);
        pt.m.inner.style.setProperty("--dy", `${Math.round(dy)}px`);
      });
    }
  }

  /** Frames `bounds` (what the inset shows), or removes the frame. */
  setRegion(bounds) {
    if (this.regionLayer) this.regionLayer.remove();
    this.regionLayer = bounds
      ? L.rectangle(bounds, { color: "#8da2dc", weight: 2, dashArray: "6 6", fill: false, interactive: false }).addTo(this.map)
      : null;
    // Names inside the frame are in the detail pane.
    for (const label of this.labels) {
      label.getElement()?.classList.toggle("in-region", Boolean(bounds?.contains(label.getLatLng())));
    }
    this.scheduleLayout();
  }
}
