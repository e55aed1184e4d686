// Unit tests of the page's pure parts: `npm test` (node --test).
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatClock, formatElapsed, formatNumber } from "../src/format.js";
import {
  applyFrame, createState, incompleteCrew, operationByCentral, outOfService, sortedOccurrences, teamOnDuty,
} from "../src/state.js";

const unit = (id, over = {}) => ({
  id, central: "3106200", type: "USB", label: id, status: "available_at_base",
  out_of_service_reason: null, lat: -19.9, lon: -43.9, crew_complete: true, updated_at: "2026-11-23T10:00:00Z", ...over,
});

test("a snapshot replaces the state, a delta updates only its units", () => {
  const s = createState();
  applyFrame(s, { type: "snapshot", at: "t0", units: [unit("a"), unit("b")], occurrences: [], indicators: {} });
  const r = applyFrame(s, { type: "delta", at: "t1", units: [unit("b", { status: "en_route" })], occurrences: [] });
  assert.deepEqual(r.changed, ["b"]);
  assert.equal(s.units.get("a").status, "available_at_base");
  assert.equal(s.units.get("b").status, "en_route");
  const again = applyFrame(s, { type: "snapshot", at: "t2", units: [unit("b")], occurrences: [], indicators: {} });
  assert.deepEqual(again.removed, ["a"]);
  assert.deepEqual([...s.units.keys()], ["b"]);
});

test("a delta older than what the wall holds does not take a unit back", () => {
  const s = createState();
  applyFrame(s, { type: "snapshot", at: "t0", units: [unit("a", { status: "on_scene", updated_at: "2026-11-23T10:00:02.500Z" })], occurrences: [], indicators: {} });
  const stale = applyFrame(s, { type: "delta", at: "t1", units: [unit("a", { status: "en_route", updated_at: "2026-11-23T10:00:01.5Z" })], occurrences: [] });
  assert.deepEqual(stale.changed, []);
  assert.equal(s.units.get("a").status, "on_scene");
  const newer = applyFrame(s, { type: "delta", at: "t2", units: [unit("a", { status: "leaving_scene", updated_at: "2026-11-23T10:00:03Z" })], occurrences: [] });
  assert.deepEqual(newer.changed, ["a"]);
  assert.equal(s.units.get("a").status, "leaving_scene");
});

test("occurrences open and close through deltas", () => {
  const s = createState();
  applyFrame(s, { type: "snapshot", units: [], occurrences: [{ id: "o1", priority: "amarelo", status: "open", opened_at: "2026-11-23T10:00:00Z" }] });
  applyFrame(s, { type: "delta", units: [], occurrences: [{ id: "o2", priority: "vermelho", status: "open", opened_at: "2026-11-23T10:05:00Z" }] });
  assert.deepEqual(sortedOccurrences(s.occurrences.values()).map((o) => o.id), ["o2", "o1"]);
  applyFrame(s, { type: "delta", units: [], occurrences: [{ id: "o2", priority: "vermelho", status: "closed", opened_at: "x" }] });
  assert.deepEqual([...s.occurrences.keys()], ["o1"]);
});

test("in operation: available or on a call, with complete crew", () => {
  const units = [
    unit("1", { type: "USA" }),
    unit("2", { type: "USA", status: "on_scene" }),
    unit("3", { type: "USA", crew_complete: false }),
    unit("4", { status: "out_of_service", out_of_service_reason: "maintenance" }),
    unit("5", { status: "no_signal" }),
  ];
  const row = operationByCentral(units).get("3106200");
  assert.deepEqual(row.USA, { ok: 2, total: 3 });
  assert.deepEqual(row.USB, { ok: 0, total: 2 });
  assert.deepEqual(outOfService(units).map((u) => u.id), ["4"]);
  assert.deepEqual(incompleteCrew(units).map((u) => u.id), ["3"]);
});

test("team on duty comes from indicators when present", () => {
  assert.equal(teamOnDuty({}, "3106200"), null);
  assert.deepEqual(teamOnDuty({ 3106200: { team: { on_duty: 5, minimum: 4 } } }, "3106200"), { onDuty: 5, minimum: 4 });
});

test("Brazilian formats", () => {
  assert.equal(formatClock(new Date("2026-11-23T13:04:05Z")), "23/11/2026 10:04:05");
  assert.equal(formatElapsed(65_000), "1:05");
  assert.equal(formatElapsed(3_725_000), "1:02:05");
  assert.equal(formatNumber(97.25, 1), "97,3");
});
