// Unit tests of the console's pure parts (src/console/model.js): `npm test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FormError, applySnapshot, can, defaultTab, dispatchBoard, errorText, formatDateTime, formatEtaMin, formatKm,
  intakeBody, mergeSummary, natureLabel, openByPriority, recentlyFinished, recommendationRows, regulationBody, regulationQueue,
  responseClock, roleLabel, stepChoices, timelineEntry, validCnes,
} from "../src/console/model.js";

const summary = (id, over = {}) => ({
  id, number: Number(id.replace(/\D/g, "")) || 1, central: "3106200", status: "awaiting_regulation",
  priority: null, nature: "clinico", municipality: "3106200", opened_at: "2026-11-23T10:00:00Z",
  regulated_at: null, closed_at: null, decision: null, requested: [], units: [], target_min: null,
  has_location: true, version: 1, ...over,
});

test("dates read dd/mm/aaaa hh:mm in the central's zone; distances and ETAs in Portuguese", () => {
  assert.equal(formatDateTime("2026-11-23T13:05:59Z", "America/Sao_Paulo"), "23/11/2026 10:05");
  assert.equal(formatDateTime("2026-01-01T02:30:00Z", "America/Sao_Paulo"), "31/12/2025 23:30");
  assert.equal(formatDateTime(null), "");
  assert.equal(formatDateTime("not a date"), "");
  assert.equal(formatKm(3456), "3,5");
  assert.equal(formatKm(12000), "12,0");
  assert.equal(formatKm(undefined), "–");
  assert.equal(formatEtaMin(61), "2");
  assert.equal(formatEtaMin(0), "0");
  assert.equal(formatEtaMin(null), "–");
});

test("roles: labels, first tab, what each may do", () => {
  assert.equal(roleLabel("physician"), "Médico regulador");
  assert.equal(roleLabel("radio_operator"), "Rádio-operador");
  assert.equal(defaultTab("tarm"), "intake");
  assert.equal(defaultTab("physician"), "regulation");
  assert.equal(defaultTab("radio_operator"), "dispatch");
  assert.equal(defaultTab("manager"), "open");
  assert.ok(can("tarm", "intake") && can("physician", "intake") && !can("radio_operator", "intake"));
  assert.ok(can("physician", "regulate") && !can("tarm", "regulate"));
  assert.ok(can("radio_operator", "dispatch") && !can("physician", "dispatch") && !can("manager", "dispatch"));
  assert.ok(can("physician", "recommendation") && !can("tarm", "recommendation"));
  assert.ok(can("manager", "read") && !can("manager", "close"));
});

test("a summary replaces an older version only", () => {
  const byId = new Map();
  assert.ok(mergeSummary(byId, summary("o1", { version: 2 })));
  assert.ok(!mergeSummary(byId, summary("o1", { version: 1, status: "closed" })));
  assert.equal(byId.get("o1").status, "awaiting_regulation");
  assert.ok(!mergeSummary(byId, summary("o1", { version: 2 })), "the same summary again changes nothing");
  assert.ok(mergeSummary(byId, summary("o1", { version: 3, status: "awaiting_dispatch" })));
  assert.equal(byId.get("o1").status, "awaiting_dispatch");
  assert.ok(!mergeSummary(byId, { nope: true }));
  applySnapshot(byId, [summary("o2")]);
  assert.deepEqual([...byId.keys()], ["o2"]);
});

test("queues: the physician's oldest first, the board and the open list most urgent first", () => {
  const all = [
    summary("o1", { opened_at: "2026-11-23T10:05:00Z" }),
    summary("o2", { opened_at: "2026-11-23T10:01:00Z" }),
    summary("o3", { status: "awaiting_dispatch", priority: "amarelo", opened_at: "2026-11-23T09:00:00Z" }),
    summary("o4", { status: "awaiting_dispatch", priority: "vermelho", opened_at: "2026-11-23T10:00:00Z" }),
    summary("o5", { status: "in_progress", priority: "verde" }),
    summary("o6", { status: "units_free", priority: "azul" }),
    summary("o7", { status: "closed", priority: "vermelho", closed_at: "2026-11-23T10:30:00Z" }),
    summary("o8", { status: "non_case", closed_at: "2026-11-23T10:40:00Z" }),
    summary("o9", { status: "orientation", priority: "verde", opened_at: "2026-11-23T08:00:00Z" }),
  ];
  assert.deepEqual(regulationQueue(all).map((s) => s.id), ["o2", "o1"]);
  const board = dispatchBoard(all);
  assert.deepEqual(board.awaiting_dispatch.map((s) => s.id), ["o4", "o3"]);
  assert.deepEqual(board.in_progress.map((s) => s.id), ["o5"]);
  assert.deepEqual(board.units_free.map((s) => s.id), ["o6"]);
  assert.deepEqual(openByPriority(all).map((s) => s.id), ["o4", "o3", "o9", "o5", "o6", "o2", "o1"]);
  assert.deepEqual(recentlyFinished(all).map((s) => s.id), ["o8", "o7"]);
});

test("the response clock runs late past the target until a unit is on scene", () => {
  const opened = Date.parse("2026-11-23T10:00:00Z");
  const s = summary("o1", { status: "awaiting_dispatch", priority: "vermelho", target_min: 10 });
  const early = responseClock(s, opened + 9 * 60000);
  assert.equal(early.late, false);
  assert.equal(early.elapsedMs, 9 * 60000);
  assert.equal(early.targetMs, 600000);
  assert.equal(responseClock(s, opened + 11 * 60000).late, true);
  const arrived = { ...s, status: "in_progress", units: [{ unit: "u", type: "USA", step: "on_scene", at: "…" }] };
  assert.equal(responseClock(arrived, opened + 11 * 60000).late, false);
  assert.equal(responseClock(arrived, opened + 11 * 60000).reached, true);
  const unregulated = summary("o2");
  assert.equal(responseClock(unregulated, opened + 3600000).late, false, "no target before regulation");
  assert.equal(responseClock(summary("o3"), opened - 5000).elapsedMs, 0, "a clock ahead of ours counts as 0");
});

test("steps: forward only, cancelled before the scene, free after it, at base once free", () => {
  const d = stepChoices("dispatched");
  assert.equal(d.next, "en_route");
  assert.ok(d.allowed.has("cancelled") && d.allowed.has("on_scene") && !d.allowed.has("dispatched"));
  assert.ok(!d.allowed.has("free") && !d.allowed.has("at_base") && !d.allowed.has("at_destination"));
  const s = stepChoices("on_scene");
  assert.equal(s.next, "left_scene");
  assert.ok(!s.allowed.has("cancelled") && s.allowed.has("free") && s.allowed.has("at_destination") && !s.allowed.has("en_route"));
  assert.deepEqual([...stepChoices("free").allowed], ["at_base"]);
  assert.deepEqual([...stepChoices("cancelled").allowed], ["at_base"]);
  assert.equal(stepChoices("at_base").next, null);
  assert.equal(stepChoices("at_base").allowed.size, 0);
  assert.equal(stepChoices("nonsense").allowed.size, 0);
});

test("recommendation rows: nearest first per type, only the first of each type needs no reason", () => {
  const rows = recommendationRows({
    occurrence: "o1",
    candidates: [
      { type: "USA", units: [
        { unit: "bh-usa-02", label: "USA 02", type: "USA", status: "available_at_base", distance_m: 1200, eta_s: 150, crew_complete: true },
        { unit: "bh-usa-01", label: "USA 01", type: "USA", status: "available_at_base", distance_m: 5400, eta_s: 500, crew_complete: true },
      ] },
      { type: "USB", units: [{ unit: "bh-usb-01", label: "USB 01", status: "available_on_the_move", distance_m: 800, eta_s: 90 }] },
      // A repeated type (["USA","USA"] asked) lists units already shown: once.
      { type: "USA", units: [{ unit: "bh-usa-02", label: "USA 02", type: "USA" }] },
    ],
  });
  assert.deepEqual(rows.map((r) => [r.unit, r.type, r.first]), [
    ["bh-usa-02", "USA", true], ["bh-usa-01", "USA", false], ["bh-usb-01", "USB", true],
  ]);
  assert.deepEqual(recommendationRows(null), []);
});

test("the intake form's body: required fields, IBGE code, age, both coordinates with a comma", () => {
  const fields = {
    caller_phone: " (31) 99999-0000 ", caller_name: "", address: "Rua A, 10", reference_point: " ",
    municipality: "", nature: "trauma", complaint: "queda", patient_name: "", patient_age: "54",
    lat: "-19,92", lon: "-43.94",
  };
  assert.deepEqual(intakeBody(fields, "3106200"), {
    central: "3106200", caller_phone: "(31) 99999-0000", municipality: "3106200", address: "Rua A, 10",
    nature: "trauma", complaint: "queda", patient_age: 54, location: { lat: -19.92, lon: -43.94 },
  });
  const refused = (over) => {
    try {
      intakeBody({ ...fields, ...over }, "3106200");
    } catch (e) {
      assert.ok(e instanceof FormError);
      return e.field;
    }
    return null;
  };
  assert.equal(refused({ caller_phone: "" }), "caller_phone");
  assert.equal(refused({ address: "  " }), "address");
  assert.equal(refused({ complaint: "" }), "complaint");
  assert.equal(refused({ nature: "x" }), "nature");
  assert.equal(refused({ municipality: "31062" }), "municipality");
  assert.equal(refused({ patient_age: "200" }), "patient_age");
  assert.equal(refused({ lat: "" }), "lat");
  assert.equal(refused({ lon: "-200" }), "lon");
  assert.equal(refused({ lat: "", lon: "" }), null);
  assert.equal(intakeBody({ ...fields, lat: "", lon: "", patient_age: "" }, "3106200").location, undefined);
});

test("the regulation's body repeats unit types by count", () => {
  assert.deepEqual(regulationBody({ priority: "vermelho", decision: "dispatch", counts: { USA: "1", MOTO: 2 }, note: " " }), {
    priority: "vermelho", decision: "dispatch", unit_types: ["USA", "MOTO", "MOTO"],
  });
  assert.deepEqual(regulationBody({ priority: "verde", decision: "orientation", counts: { USA: 3 }, note: "orientado" }), {
    priority: "verde", decision: "orientation", unit_types: [], note: "orientado",
  });
  assert.throws(() => regulationBody({ decision: "dispatch", counts: { USA: 1 } }), (e) => e.field === "priority");
  assert.throws(() => regulationBody({ priority: "amarelo", counts: {} }), (e) => e.field === "decision");
  assert.throws(() => regulationBody({ priority: "amarelo", decision: "dispatch", counts: {} }), (e) => e.field === "unit_types");
});

test("CNES and error texts", () => {
  assert.ok(validCnes("0027014"));
  assert.ok(!validCnes("27014") && !validCnes("00270140") && !validCnes("abcdefg"));
  assert.equal(
    errorText("Não foi possível empenhar USA 01", { status: 409, message: "a unidade não está disponível" }),
    "Não foi possível empenhar USA 01: a unidade não está disponível",
  );
  assert.equal(errorText("Falhou", { status: 0 }), "Falhou: sem conexão com o servidor");
  assert.equal(errorText("Falhou", { status: 403, message: "" }), "Falhou: seu perfil não permite esta ação");
});

test("timeline lines: kind, unit and step at the top level or inside the event", () => {
  const flat = timelineEntry({ no: 2, kind: "unit_dispatched", at: "t", by: "Ana (radio_operator)", text: "x", unit: "u1" });
  assert.equal(flat.kind, "unit_dispatched");
  assert.equal(flat.unit, "u1");
  const nested = timelineEntry({
    no: 3, at: "t", by: "b", text: "y", corrected: true,
    event: { kind: "unit_progressed", unit: "u1", step: "on_scene", destination_cnes: null, note: null },
  });
  assert.deepEqual(nested, { no: 3, at: "t", by: "b", text: "y", corrected: true, kind: "unit_progressed", unit: "u1", step: "on_scene" });
  assert.equal(timelineEntry({}).kind, "");
});

test("natures read in Portuguese, also when sent with their English names", () => {
  assert.equal(natureLabel("pediatrico"), "Pediátrico");
  assert.equal(natureLabel("paediatric"), "Pediátrico");
  assert.equal(natureLabel("clinical"), "Clínico");
  assert.equal(natureLabel("trauma"), "Trauma");
  assert.equal(natureLabel("queda_de_altura"), "queda de altura");
});
