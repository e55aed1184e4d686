// The console's pure parts: labels, formatting, queues derived from the live
// summaries, the response clock, the recommendation table and the request
// bodies built from the forms. No DOM, no network: `npm test` covers them.
//
// Codes are the console API's (docs/console-api.md); labels are Portuguese.

import { PRIORITY_ORDER, STATUS_PT } from "../labels.js";

export { formatElapsed } from "../format.js";
export { PRIORITY_ORDER };

export const ROLE_PT = {
  tarm: "TARM",
  physician: "Médico regulador",
  radio_operator: "Rádio-operador",
  manager: "Gestor",
  admin: "Administrador",
  wall: "Painel",
};

export const PRIORITY_PT = {
  vermelho: "Vermelho",
  amarelo: "Amarelo",
  verde: "Verde",
  azul: "Azul",
};

export const NATURE_PT = {
  clinico: "Clínico",
  trauma: "Trauma",
  obstetrico: "Obstétrico",
  psiquiatrico: "Psiquiátrico",
  pediatrico: "Pediátrico",
  outro: "Outro",
};

/** English names a server may send for the natures (read, never sent). */
const NATURE_ALIASES = {
  clinical: "clinico",
  obstetric: "obstetrico",
  psychiatric: "psiquiatrico",
  paediatric: "pediatrico",
  pediatric: "pediatrico",
  other: "outro",
};

/** A nature's Portuguese name, whichever spelling the server used. */
export const natureLabel = (code) => label(NATURE_PT, NATURE_ALIASES[code] ?? code);

export const OCCURRENCE_STATUS_PT = {
  awaiting_regulation: "aguardando regulação",
  orientation: "orientação por telefone",
  awaiting_dispatch: "aguardando empenho",
  in_progress: "em atendimento",
  units_free: "unidades liberadas",
  closed: "encerrada",
  non_case: "não caso",
};

export const DECISION_PT = {
  orientation: "Orientação por telefone",
  dispatch: "Enviar unidades",
};

export const NON_CASE_PT = {
  prank: "trote",
  wrong_number: "engano",
  dropped: "queda da ligação",
  information: "informação",
  duplicate: "duplicado",
};

/** Unit types in the order the forms list them. */
export const UNIT_TYPES = ["USB", "USA", "MOTO", "VIR", "AERO", "EMB"];

export const STEP_PT = {
  dispatched: "empenhada",
  en_route: "saiu da base",
  on_scene: "no local",
  left_scene: "saiu do local",
  at_destination: "no destino",
  free: "livre",
  at_base: "na base",
  cancelled: "cancelada",
};

/** The radio operator's step buttons, in the order of an occurrence. */
export const STEP_ACTIONS = [
  { step: "en_route", label: "Saiu da base" },
  { step: "on_scene", label: "Chegou ao local" },
  { step: "left_scene", label: "Saiu do local" },
  { step: "at_destination", label: "Chegou ao destino" },
  { step: "free", label: "Livre" },
  { step: "at_base", label: "Na base" },
  { step: "cancelled", label: "Cancelar" },
];

/** Steps after which a unit is no longer engaged in the occurrence. */
export const RELEASED_STEPS = new Set(["free", "at_base", "cancelled"]);
/** Steps from which the unit has reached the scene. */
const REACHED_SCENE = new Set(["on_scene", "left_scene", "at_destination", "free", "at_base"]);

/** Timeline kinds with a Portuguese name; others are shown as sent. */
export const TIMELINE_KIND_PT = {
  call_received: "Chamado recebido",
  non_case: "Encerrada como não caso",
  regulated: "Regulação",
  unit_dispatched: "Unidade empenhada",
  unit_progressed: "Unidade",
  time_corrected: "Correção de horário",
  closed: "Ocorrência encerrada",
};

/** Occurrence statuses that are over: not in the open list nor the boards. */
export const FINISHED = new Set(["closed", "non_case"]);

/** What each role may do at the console (the API checks it again). */
const ACTIONS = {
  intake: new Set(["tarm", "physician"]),
  non_case: new Set(["tarm", "physician"]),
  regulate: new Set(["physician"]),
  recommendation: new Set(["physician", "radio_operator"]),
  dispatch: new Set(["radio_operator"]),
  steps: new Set(["radio_operator"]),
  close: new Set(["physician", "radio_operator"]),
  read: new Set(["tarm", "physician", "radio_operator", "manager"]),
};

export function can(role, action) {
  return ACTIONS[action]?.has(role) ?? false;
}

/** The tab a role starts on. */
export function defaultTab(role) {
  return { tarm: "intake", physician: "regulation", radio_operator: "dispatch" }[role] ?? "open";
}

export const label = (table, code) => table[code] ?? String(code ?? "").replaceAll("_", " ");
export const roleLabel = (code) => label(ROLE_PT, code);
export const statusLabel = (code) => label(OCCURRENCE_STATUS_PT, code);
export const stepLabel = (code) => label(STEP_PT, code);
export const unitStatusLabel = (code) => label(STATUS_PT, code);
export const kindLabel = (code) => label(TIMELINE_KIND_PT, code);

// --- formatting --------------------------------------------------------------

const dateFormats = new Map();

function dateParts(date, timeZone) {
  let f = dateFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("pt-BR", {
      timeZone,
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
      hourCycle: "h23",
    });
    dateFormats.set(timeZone, f);
  }
  const out = {};
  for (const p of f.formatToParts(date)) out[p.type] = p.value;
  return out;
}

function toDate(value) {
  if (value instanceof Date) return value;
  if (value === null || value === undefined || value === "") return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "dd/mm/aaaa hh:mm" in `timeZone`; "" for no time. */
export function formatDateTime(value, timeZone = "America/Sao_Paulo") {
  const d = toDate(value);
  if (!d) return "";
  const p = dateParts(d, timeZone);
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}`;
}

/** "hh:mm:ss" in `timeZone`; "" for no time. */
export function formatTimeOfDay(value, timeZone = "America/Sao_Paulo") {
  const d = toDate(value);
  if (!d) return "";
  const p = dateParts(d, timeZone);
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** Metres as kilometres with a decimal comma: 3456 -> "3,5". */
export function formatKm(metres) {
  if (typeof metres !== "number" || !Number.isFinite(metres)) return "–";
  return (metres / 1000).toLocaleString("pt-BR", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

/** Seconds as whole minutes, rounded up: 61 -> "2". */
export function formatEtaMin(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
  return String(Math.max(0, Math.ceil(seconds / 60)));
}

// --- the live set of summaries -----------------------------------------------

/**
 * Applies one summary to `byId` (a Map id -> Summary) unless an equal or
 * newer version is already there. Returns whether it changed the map.
 */
export function mergeSummary(byId, summary) {
  if (!summary || typeof summary.id !== "string") return false;
  const old = byId.get(summary.id);
  if (old && typeof old.version === "number" && typeof summary.version === "number" && summary.version < old.version) {
    return false;
  }
  if (old && old.version === summary.version && JSON.stringify(old) === JSON.stringify(summary)) return false;
  byId.set(summary.id, summary);
  return true;
}

/** A snapshot frame replaces the whole set. */
export function applySnapshot(byId, occurrences) {
  byId.clear();
  for (const s of occurrences ?? []) mergeSummary(byId, s);
}

const time = (s) => {
  const t = Date.parse(s?.opened_at ?? "");
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
};
const oldestFirst = (a, b) => time(a) - time(b) || (a.number ?? 0) - (b.number ?? 0) || String(a.id).localeCompare(String(b.id));
const priorityRank = (p) => {
  const i = PRIORITY_ORDER.indexOf(p);
  return i < 0 ? PRIORITY_ORDER.length : i;
};
/** Most urgent first (vermelho … azul, then not yet regulated), then oldest. */
export const byPriority = (a, b) => priorityRank(a.priority) - priorityRank(b.priority) || oldestFirst(a, b);

export function isOpen(summary) {
  return !FINISHED.has(summary.status);
}

/** The physician's queue: awaiting regulation, oldest first. */
export function regulationQueue(summaries) {
  return [...summaries].filter((s) => s.status === "awaiting_regulation").sort(oldestFirst);
}

/** The radio operator's board, each column most urgent first. */
export function dispatchBoard(summaries) {
  const board = { awaiting_dispatch: [], in_progress: [], units_free: [] };
  for (const s of summaries) board[s.status]?.push(s);
  for (const list of Object.values(board)) list.sort(byPriority);
  return board;
}

/** Every open occurrence, most urgent first. */
export function openByPriority(summaries) {
  return [...summaries].filter(isOpen).sort(byPriority);
}

/** Finished occurrences the snapshot still carries, newest first. */
export function recentlyFinished(summaries) {
  const t = (s) => Date.parse(s.closed_at ?? s.opened_at ?? "") || 0;
  return [...summaries].filter((s) => !isOpen(s)).sort((a, b) => t(b) - t(a));
}

/** The units still engaged in an occurrence. */
export function engagedUnits(summary) {
  return (summary?.units ?? []).filter((u) => !RELEASED_STEPS.has(u.step));
}

/**
 * The occurrence's clock: time since the call against the target for its
 * priority (call → first unit on scene). `reached`: a unit is (or was) on
 * scene, so the clock no longer runs late.
 */
export function responseClock(summary, nowMs) {
  const opened = Date.parse(summary?.opened_at ?? "");
  const elapsedMs = Number.isNaN(opened) ? 0 : Math.max(0, nowMs - opened);
  const targetMs = typeof summary?.target_min === "number" ? summary.target_min * 60000 : null;
  const reached = (summary?.units ?? []).some((u) => REACHED_SCENE.has(u.step));
  const finished = FINISHED.has(summary?.status) || summary?.status === "orientation";
  const late = targetMs !== null && !reached && !finished && elapsedMs > targetMs;
  return { elapsedMs, targetMs, late, reached, fraction: targetMs ? Math.min(1, elapsedMs / targetMs) : 0 };
}

/**
 * The steps the operator may record for a unit now (the occurrence rules of
 * samu-occurrence: forward only, a step may be skipped on the way to the
 * scene; cancelled before the scene, free after it, at base once free or
 * cancelled). `next` is the natural next one.
 */
const STEP_CHOICES = {
  dispatched: ["en_route", "on_scene", "cancelled"],
  en_route: ["on_scene", "cancelled"],
  on_scene: ["left_scene", "at_destination", "free"],
  left_scene: ["at_destination", "free"],
  at_destination: ["free"],
  free: ["at_base"],
  cancelled: ["at_base"],
  at_base: [],
};

export function stepChoices(current) {
  const choices = STEP_CHOICES[current] ?? [];
  return { allowed: new Set(choices), next: choices[0] ?? null };
}

/**
 * A timeline line in one shape: the event's kind, unit and step either at
 * the top level or inside `event` (the stored event body).
 */
export function timelineEntry(e) {
  const ev = e?.event && typeof e.event === "object" ? e.event : {};
  return {
    no: e?.no,
    at: e?.at,
    by: e?.by ?? "",
    text: e?.text ?? "",
    corrected: Boolean(e?.corrected),
    kind: e?.kind ?? ev.kind ?? "",
    unit: e?.unit ?? ev.unit ?? null,
    step: e?.step ?? ev.step ?? null,
  };
}

// --- the recommendation --------------------------------------------------------

/**
 * The recommendation's rows, type by type in the answer's order, nearest
 * first: `first` is true for the first unit of its type (the one the
 * operator may send without a justification).
 */
export function recommendationRows(recommendation) {
  const rows = [];
  const seenType = new Set();
  const seenUnit = new Set();
  for (const group of recommendation?.candidates ?? []) {
    (group.units ?? []).forEach((u, i) => {
      const type = u.type ?? group.type;
      if (seenUnit.has(u.unit)) return;
      seenUnit.add(u.unit);
      rows.push({ ...u, type, rank: i, first: i === 0 && !seenType.has(type) });
    });
    seenType.add(group.type);
  }
  return rows;
}

// --- request bodies from the forms ---------------------------------------------

/** A client-side refusal, shaped like the API's errors. */
export class FormError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

const trimmed = (v) => (typeof v === "string" ? v.trim() : "");

/** A coordinate typed with a comma or a dot; null when empty. */
export function parseCoordinate(text, field, min, max) {
  const t = trimmed(text).replace(",", ".");
  if (!t) return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new FormError(field, `${field === "lat" ? "Latitude" : "Longitude"} inválida: use graus decimais entre ${min} e ${max}.`);
  }
  return n;
}

/**
 * The body of `POST /api/v1/occurrences` from the intake form's fields
 * (strings). Throws FormError naming the field on what the API would refuse.
 */
export function intakeBody(fields, central) {
  const body = { central };
  const phone = trimmed(fields.caller_phone);
  if (!phone) throw new FormError("caller_phone", "Informe o telefone do solicitante.");
  if (!/^[0-9+()\-\s]{3,20}$/.test(phone)) throw new FormError("caller_phone", "Telefone inválido.");
  body.caller_phone = phone;
  const municipality = trimmed(fields.municipality) || central;
  if (!/^\d{7}$/.test(municipality)) throw new FormError("municipality", "Município: informe o código IBGE de 7 dígitos.");
  body.municipality = municipality;
  const address = trimmed(fields.address);
  if (!address) throw new FormError("address", "Informe o endereço.");
  body.address = address;
  const nature = trimmed(fields.nature);
  if (!(nature in NATURE_PT)) throw new FormError("nature", "Escolha a natureza do chamado.");
  body.nature = nature;
  const complaint = trimmed(fields.complaint);
  if (!complaint) throw new FormError("complaint", "Informe a queixa.");
  body.complaint = complaint;
  for (const key of ["caller_name", "reference_point", "patient_name"]) {
    const v = trimmed(fields[key]);
    if (v) body[key] = v;
  }
  const age = trimmed(fields.patient_age);
  if (age) {
    if (!/^\d{1,3}$/.test(age) || Number(age) > 130) throw new FormError("patient_age", "Idade inválida (anos, de 0 a 130).");
    body.patient_age = Number(age);
  }
  const lat = parseCoordinate(fields.lat, "lat", -90, 90);
  const lon = parseCoordinate(fields.lon, "lon", -180, 180);
  if ((lat === null) !== (lon === null)) {
    throw new FormError(lat === null ? "lat" : "lon", "Informe latitude e longitude, ou nenhuma das duas.");
  }
  if (lat !== null) body.location = { lat, lon };
  return body;
}

/**
 * The body of `POST …/regulation`. `counts` maps unit type -> how many;
 * `unit_types` repeats each type that many times, in UNIT_TYPES order.
 */
export function regulationBody({ priority, decision, counts, note }) {
  if (!(priority in PRIORITY_PT)) throw new FormError("priority", "Escolha a prioridade.");
  if (!(decision in DECISION_PT)) throw new FormError("decision", "Escolha a decisão.");
  const unitTypes = [];
  if (decision === "dispatch") {
    for (const type of UNIT_TYPES) {
      const n = Number(counts?.[type] ?? 0);
      if (!Number.isInteger(n) || n < 0 || n > 9) throw new FormError("unit_types", `Quantidade inválida de ${type}.`);
      for (let i = 0; i < n; i += 1) unitTypes.push(type);
    }
    if (!unitTypes.length) throw new FormError("unit_types", "Escolha ao menos uma unidade a enviar.");
  }
  const body = { priority, decision, unit_types: unitTypes };
  const n = trimmed(note);
  if (n) body.note = n;
  return body;
}

/** A CNES: 7 digits. */
export function validCnes(text) {
  return /^\d{7}$/.test(trimmed(text));
}

/** How an API error reads to the user: "<what failed>: <server's message>". */
export function errorText(what, err) {
  const status = err?.status;
  let message = trimmed(err?.message);
  if (!message) {
    message = {
      0: "sem conexão com o servidor",
      401: "sessão expirada: entre novamente",
      403: "seu perfil não permite esta ação",
      404: "não encontrada",
      409: "a ação não cabe no estado atual",
      503: "servidor de dados indisponível; tente de novo",
    }[status] ?? `erro ${status ?? "desconhecido"}`;
  }
  return what ? `${what}: ${message}` : message;
}
