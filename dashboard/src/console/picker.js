// The intake form's small map: a click fills latitude and longitude. Without
// a tile server it draws the central's municipalities as circles with their
// names (from centrals.json), as the wall does.

import L from "leaflet";
import "leaflet/dist/leaflet.css";

export class PickerMap {
  constructor(el, { tiles, attribution, onPick }) {
    this.el = el;
    this.map = L.map(el, {
      zoomControl: true,
      attributionControl: Boolean(tiles),
      fadeAnimation: false,
      keyboard: false,
    });
    if (tiles) L.tileLayer(tiles, { attribution: attribution || "", maxZoom: 19, crossOrigin: true }).addTo(this.map);
    this.areas = L.layerGroup().addTo(this.map);
    this.marker = null;
    this.map.setView([-19.9, -44.5], 7);
    this.map.on("click", (ev) => {
      const lat = Math.round(ev.latlng.lat * 1e5) / 1e5;
      const lon = Math.round(ev.latlng.lng * 1e5) / 1e5;
      this.mark(lat, lon);
      onPick(lat, lon);
    });
  }

  /** Shows the municipalities of `central` (a centrals.json entry) and fits them. */
  showCentral(central) {
    this.areas.clearLayers();
    let bounds = null;
    for (const m of central?.municipalities ?? []) {
      const circle = L.circle([m.lat, m.lon], {
        radius: m.radius_km * 1000,
        color: "#6f8fc7",
        weight: 1,
        dashArray: "6 6",
        fillColor: "#22365e",
        fillOpacity: 0.3,
        interactive: false,
      }).addTo(this.areas);
      L.marker([m.lat, m.lon], {
        icon: L.divIcon({ className: "muni-icon", html: `<div class="muni-label"></div>`, iconSize: [0, 0] }),
        interactive: false,
        keyboard: false,
      })
        .addTo(this.areas)
        .getElement()
        ?.querySelector(".muni-label")
        ?.append(document.createTextNode(m.name));
      const b = circle.getBounds();
      bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
    }
    this.pendingBounds = bounds;
    this.refresh();
  }

  /** Puts the pin at (lat, lon), or removes it when either is null. */
  mark(lat, lon) {
    if (lat === null || lon === null || !Number.isFinite(lat) || !Number.isFinite(lon)) {
      this.marker?.remove();
      this.marker = null;
      return;
    }
    if (!this.marker) {
      this.marker = L.circleMarker([lat, lon], { radius: 8, color: "#fff", weight: 2, fillColor: "#ef4444", fillOpacity: 1 }).addTo(this.map);
    } else {
      this.marker.setLatLng([lat, lon]);
    }
  }

  /**
   * After the map's box was shown or resized. A hidden map has no size to
   * fit the municipalities in: the fit waits until it is shown.
   */
  refresh() {
    if (!this.el.clientWidth || !this.el.clientHeight) return;
    this.map.invalidateSize({ animate: false });
    if (this.pendingBounds) {
      this.map.fitBounds(this.pendingBounds, { padding: [8, 8], animate: false });
      this.pendingBounds = null;
    }
  }
}
