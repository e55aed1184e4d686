// The wall's state and what it derives from it. Pure: no DOM, testable with
// `node --test` (dashboard/test/).

import { AVAILABLE, ON_A_CALL, OCCURRENCE_CLOSED, PRIORITY_ORDER, STATUS_ORDER } from "./labels.js";

export function createState() {
  return {
    units: new Map(),
    occurrences: new Map(),
    indicators: {},
    at: null,
  };
}

function occurrenceOpen(o) {
  return o && !o.closed_at && !OCCURRENCE_CLOSED.has(String(o.status ?? "").toLowerCase());
}

/**
 * Applies one frame of the feed. A snapshot replaces everything; a delta
 * updates the units (and occurrences) it carries. Returns what changed:
 * `{ snapshot, changed: [unit ids], removed: [unit ids] }`.
 */
export function applyFrame(state, frame) {
  const changed = [];
  const removed = [];
  if (frame.type === "snapshot") {
    const fresh = new Map((frame.units ?? []).map((u) => [u.id, u]));
    for (const id of state.units.keys()) if (!fresh.has(id)) removed.push(id);
    state.units = fresh;
    changed.push(...fresh.keys());
    state.occurrences = new Map();
    for (const o of frame.occurrences ?? []) if (occurrenceOpen(o)) state.occurrences.set(o.id, o);
    state.indicators = frame.indicators && typeof frame.indicators === "object" ? frame.indicators : {};
  } else if (frame.type === "delta") {
    for (const u of frame.units ?? []) {
      // A delta queued before the snapshot the wall last took may carry an
      // older state than it: the newest change wins.
      const held = state.units.get(u.id);
      if (held && Date.parse(held.updated_at) > Date.parse(u.updated_at)) continue;
      state.units.set(u.id, u);
      changed.push(u.id);
    }
    for (const o of frame.occurrences ?? []) {
      if (occurrenceOpen(o)) state.occurrences.set(o.id, o);
      else state.occurrences.delete(o.id);
    }
    if (frame.indicators && typeof frame.indicators === "object") {
      state.indicators = { ...state.indicators, ...frame.indicators };
    }
  } else {
    return { snapshot: false, changed, removed, ignored: true };
  }
  state.at = frame.at ?? state.at;
  return { snapshot: frame.type === "snapshot", changed, removed };
}

/** In operation now: available or on a call, with the minimum crew aboard. */
export function inOperation(u) {
  return Boolean(u.crew_complete) && (AVAILABLE.has(u.status) || ON_A_CALL.has(u.status));
}

/** Per central: `{ USA: {ok, total}, USB: {ok, total} }`, centrals sorted by id. */
export function operationByCentral(units) {
  const out = new Map();
  for (const u of units) {
    if (!out.has(u.central)) out.set(u.central, { USA: { ok: 0, total: 0 }, USB: { ok: 0, total: 0 }, other: { ok: 0, total: 0 } });
    const row = out.get(u.central);
    const cell = row[u.type] ?? row.other;
    cell.total += 1;
    if (inOperation(u)) cell.ok += 1;
  }
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

const byCentralThenLabel = (a, b) =>
  a.central.localeCompare(b.central) || String(a.label).localeCompare(String(b.label)) || a.id.localeCompare(b.id);

export function outOfService(units) {
  return units.filter((u) => u.status === "out_of_service").sort(byCentralThenLabel);
}

/** Units without their minimum crew that are not already listed as out of service. */
export function incompleteCrew(units) {
  return units.filter((u) => !u.crew_complete && u.status !== "out_of_service").sort(byCentralThenLabel);
}

export function statusCounts(units) {
  const counts = Object.fromEntries(STATUS_ORDER.map((s) => [s, 0]));
  for (const u of units) counts[u.status] = (counts[u.status] ?? 0) + 1;
  return counts;
}

/** Open occurrences, most urgent first (priority, then oldest). */
export function sortedOccurrences(occurrences) {
  const rank = (p) => {
    const i = PRIORITY_ORDER.indexOf(p);
    return i < 0 ? PRIORITY_ORDER.length : i;
  };
  return [...occurrences].sort(
    (a, b) => rank(a.priority) - rank(b.priority) || String(a.opened_at).localeCompare(String(b.opened_at)),
  );
}

/**
 * The central's team on duty against its minimum, from `indicators`:
 * `indicators[central].team = {on_duty, minimum}` (also accepted:
 * `equipe = {presentes, minimo}`). Null when absent.
 */
export function teamOnDuty(indicators, central) {
  const c = indicators?.[central];
  const t = c?.team ?? c?.equipe;
  if (!t || typeof t !== "object") return null;
  const onDuty = t.on_duty ?? t.presentes;
  const minimum = t.minimum ?? t.minimo;
  if (typeof onDuty !== "number" || typeof minimum !== "number") return null;
  return { onDuty, minimum };
}

/** The other figures of `indicators[central]`, as [key, value] pairs to print. */
export function otherIndicators(indicators, central) {
  const c = indicators?.[central];
  if (!c || typeof c !== "object") return [];
  return Object.entries(c).filter(
    ([k, v]) => k !== "team" && k !== "equipe" && (typeof v === "number" || typeof v === "string"),
  );
}
