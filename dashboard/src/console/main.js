// The web console of the regulation room (`/console`): log in, pick the
// central, follow the live queues (/ws/console) and work occurrences through
// the console API (docs/console-api.md): the TARM takes calls, the physician
// regulates, the radio operator dispatches and follows the units.
//
// Personal data (caller, patient, address) only ever lives in the page's
// memory and on screen: never in the URL, storage or the browser console.

import "./console.css";
import catalogue from "../centrals.json";
import { esc, formatClock } from "../format.js";
import { Api, ApiError } from "./api.js";
import { ask } from "./dialog.js";
import { LiveQueues } from "./live.js";
import {
  DECISION_PT, NATURE_PT, NON_CASE_PT, PRIORITY_PT, STEP_ACTIONS, UNIT_TYPES, FormError,
  applySnapshot, can, defaultTab, dispatchBoard, engagedUnits, errorText, formatDateTime, formatElapsed,
  formatEtaMin, formatKm, formatTimeOfDay, intakeBody, isOpen, kindLabel, mergeSummary, natureLabel, openByPriority,
  recentlyFinished, recommendationRows, regulationBody, regulationQueue, responseClock, roleLabel, statusLabel,
  stepChoices, stepLabel, timelineEntry, unitStatusLabel, validCnes,
} from "./model.js";
import { PickerMap } from "./picker.js";

const $ = (id) => document.getElementById(id);
const SESSION_KEY = "samu.console.session";
const CENTRAL_KEY = "samu.console.central";

const DEFAULTS = { tiles: "", tiles_attribution: "", time_zone: "America/Sao_Paulo" };

async function loadConfig() {
  try {
    const res = await fetch("/config.json", { cache: "no-store" });
    if (res.ok) return { ...DEFAULTS, ...(await res.json()) };
  } catch {
    // No config.json: the defaults serve.
  }
  return { ...DEFAULTS };
}

const config = await loadConfig();
const tz = config.time_zone;
const centrals = catalogue.centrals;
const municipalityNames = new Map(centrals.flatMap((c) => c.municipalities.map((m) => [m.ibge, m.name])));

/** Everything the page knows; rendered by render(). */
const app = {
  session: null, // {token, expires_at, user}
  central: null,
  byId: new Map(), // id -> Summary, from the live queues and our own answers
  selected: null,
  detail: null, // Detail of the selected occurrence
  recommendation: null, // {id, version, data}
  tab: "open",
  busy: 0,
};

const api = new Api(() => app.session?.token ?? "", () => sessionLost("Sua sessão expirou ou foi encerrada. Entre novamente."));

// --- notices and errors ----------------------------------------------------------

let noticeTimer = null;
function notice(text, kind = "ok") {
  const el = $("notice");
  el.textContent = text;
  el.className = `notice ${kind}`;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    el.hidden = true;
  }, kind === "error" ? 10000 : 5000);
}

/** Shows a failure in the form's error line (and marks the field), and as a notice. */
function showError(what, err, form, errorKey) {
  const text = errorText(what, err);
  if (form) {
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    // "location", "location.lat", "call.caller_phone": the form's own names.
    const last = String(err?.field ?? "").split(".").pop();
    const field = last === "location" ? "lat" : last;
    const input = field ? form.querySelector(`[name="${CSS.escape(field)}"]`) : null;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    const line = form.querySelector(`[data-error-for="${errorKey}"]`) ?? document.querySelector(`[data-error-for="${errorKey}"]`);
    if (line) line.textContent = text;
  }
  notice(text, "error");
}

function clearError(form, errorKey) {
  form?.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const line = document.querySelector(`[data-error-for="${errorKey}"]`);
  if (line) line.textContent = "";
}

/** Runs one API action with the page marked busy; a Detail answer updates the page. */
async function act(what, run, { form, errorKey } = {}) {
  app.busy += 1;
  document.body.classList.add("busy");
  try {
    const result = await run();
    if (form) clearError(form, errorKey);
    if (result?.summary) takeDetail(result);
    return result;
  } catch (err) {
    if (err instanceof FormError) {
      showError(what, err, form, errorKey);
    } else if (err instanceof ApiError) {
      if (err.status !== 401) showError(what, err, form, errorKey);
    } else {
      showError(what, { message: String(err?.message ?? err) }, form, errorKey);
    }
    return null;
  } finally {
    app.busy -= 1;
    document.body.classList.toggle("busy", app.busy > 0);
  }
}

// --- session -----------------------------------------------------------------------

function saveSession() {
  if (app.session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(app.session));
  else sessionStorage.removeItem(SESSION_KEY);
}

function readSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null");
    return s && typeof s.token === "string" ? s : null;
  } catch {
    return null;
  }
}

let expiryTimer = null;

function showLogin(message = "") {
  live.stop();
  clearTimeout(expiryTimer);
  app.session = null;
  app.central = null;
  app.byId.clear();
  app.selected = null;
  app.detail = null;
  app.recommendation = null;
  saveSession();
  document.body.dataset.screen = "login";
  document.body.dataset.role = "";
  $("app").hidden = true;
  $("login-screen").hidden = false;
  for (const id of ["who", "logout", "central-pick", "conn"]) $(id).hidden = true;
  $("scope").textContent = "";
  $("login-error").textContent = message;
  $("intake-form").reset();
  $("reg-form").reset();
  $("detail").innerHTML = `<div class="empty">Selecione uma ocorrência.</div>`;
  const form = $("login-form");
  form.reset();
  form.querySelector("[name=username]").focus();
}

function sessionLost(message) {
  if (app.session) showLogin(message);
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    $("login-error").textContent = "Informe usuário e senha.";
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  $("login-error").textContent = "";
  let answer;
  try {
    answer = await api.login(username, password);
  } catch (err) {
    $("login-error").textContent =
      err?.status === 401 ? "Usuário ou senha incorretos." : errorText("Não foi possível entrar", err);
    return;
  } finally {
    button.disabled = false;
    form.password.value = "";
  }
  app.session = { token: answer.token, expires_at: answer.expires_at, user: answer.user };
  saveSession();
  enter();
});

$("logout").addEventListener("click", async () => {
  live.stop();
  try {
    await api.logout();
  } catch {
    // The token is forgotten here anyway; the server expires it.
  }
  showLogin("Sessão encerrada.");
});

/** After a login (or a reload with a valid session): the work screen. */
function enter() {
  const { user } = app.session;
  document.body.dataset.screen = "work";
  document.body.dataset.role = user.role;
  $("login-screen").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("logout").hidden = false;
  $("conn").hidden = false;
  $("user-name").textContent = user.name || user.username;
  $("user-role").textContent = roleLabel(user.role);
  applyRole(user.role);
  const expires = Date.parse(app.session.expires_at ?? "");
  clearTimeout(expiryTimer);
  if (!Number.isNaN(expires)) {
    expiryTimer = setTimeout(
      () => sessionLost("Sua sessão expirou. Entre novamente."),
      Math.min(2 ** 31 - 1, Math.max(0, expires - Date.now())),
    );
  }
  const pick = $("central-pick");
  if (user.central) {
    pick.hidden = true;
    setCentral(user.central);
  } else {
    const select = $("central-select");
    select.innerHTML =
      `<option value="">Escolha a central…</option>` +
      centrals.map((c) => `<option value="${esc(c.id)}">${esc(c.name)} (${esc(c.id)})</option>`).join("");
    pick.hidden = false;
    const stored = sessionStorage.getItem(CENTRAL_KEY);
    if (stored && centrals.some((c) => c.id === stored)) {
      select.value = stored;
      setCentral(stored);
    } else {
      setCentral(null);
    }
  }
  showTab(defaultTab(user.role));
}

$("central-select").addEventListener("change", (ev) => setCentral(ev.target.value || null));

function setCentral(id) {
  app.central = id;
  app.byId.clear();
  app.selected = null;
  app.detail = null;
  app.recommendation = null;
  if (id) sessionStorage.setItem(CENTRAL_KEY, id);
  const c = centrals.find((x) => x.id === id);
  $("scope").textContent = id ? (c ? c.name : `Central ${id}`) : "Escolha a central";
  document.body.dataset.central = id ?? "";
  $("municipalities").innerHTML = (c?.municipalities ?? [])
    .map((m) => `<option value="${esc(m.ibge)}">${esc(m.name)}</option>`)
    .join("");
  $("intake-form").municipality.value = id ?? "";
  if (c) picker?.showCentral(c);
  if (id) live.start(id, app.session.token);
  else live.stop();
  render();
}

/** Forms the role may not use are shown disabled, with a note. */
function applyRole(role) {
  const notes = {
    intake: can(role, "intake") ? "" : "somente leitura: para TARM e médico regulador",
    regulate: can(role, "regulate") ? "" : "somente leitura: para o médico regulador",
    dispatch: can(role, "dispatch") ? "" : "somente leitura: para o rádio-operador",
  };
  for (const [key, text] of Object.entries(notes)) {
    for (const el of document.querySelectorAll(`[data-role-note="${key}"]`)) el.textContent = text;
  }
  for (const el of $("intake-form").elements) el.disabled = !can(role, "intake");
  for (const el of $("reg-form").elements) el.disabled = !can(role, "regulate");
  $("non-case").classList.toggle("readonly", !can(role, "non_case"));
}

// --- live queues -----------------------------------------------------------------------

const live = new LiveQueues({
  onSnapshot(frame) {
    applySnapshot(app.byId, frame.occurrences);
    // Our own selection survives a reconnection when still listed.
    if (app.selected && !app.byId.has(app.selected) && app.detail) mergeSummary(app.byId, app.detail.summary);
    queueRender();
    refreshSelected();
  },
  onOccurrence(summary) {
    if (mergeSummary(app.byId, summary)) {
      queueRender();
      if (summary.id === app.selected) refreshSelected();
    }
  },
  onState: showConnection,
  async onRepeatedFailure() {
    // The handshake keeps failing: is the session still valid?
    try {
      await api.session();
    } catch (err) {
      if (err?.status === 401) sessionLost("Sua sessão expirou ou foi encerrada. Entre novamente.");
    }
  },
});

function showConnection() {
  const el = $("conn");
  const phase = live.phase;
  let cls = phase === "open" ? "live" : phase === "down" ? "down" : phase === "connecting" ? "wait" : "idle";
  let text = { live: "ao vivo", wait: "conectando…", idle: "" }[cls];
  if (cls === "down") {
    const s = Math.max(0, Math.ceil((live.retryAt - Date.now()) / 1000));
    text = `desconectado · nova tentativa em ${s} s`;
  }
  if (!app.central && app.session) {
    cls = "idle";
    text = "escolha a central";
  }
  el.className = `conn ${cls}`;
  el.textContent = text;
  document.body.dataset.connection = cls;
}

// --- selection, detail and recommendation ---------------------------------------------

let detailTimer = null;
let recTimer = null;

function select(id) {
  if (!id) return;
  const changed = id !== app.selected;
  app.selected = id;
  if (changed) {
    app.detail = null;
    app.recommendation = null;
    clearError($("reg-form"), "regulation");
    fillRegulationForm(app.byId.get(id));
  }
  render();
  loadDetail(id);
  if (app.tab === "dispatch") loadRecommendation();
}

async function loadDetail(id) {
  const s = app.byId.get(id);
  if (!can(app.session?.user.role, "read")) return;
  try {
    const detail = await api.occurrence(id);
    if (app.selected === id) takeDetail(detail);
  } catch (err) {
    if (app.selected === id && err?.status !== 401) notice(errorText(`Não foi possível abrir a ocorrência nº ${s?.number ?? ""}`, err), "error");
  }
}

/** A Detail from the API (a read or an action's answer). */
function takeDetail(detail) {
  mergeSummary(app.byId, detail.summary);
  if (detail.summary.id === app.selected) {
    if (!app.detail || (detail.summary.version ?? 0) >= (app.detail.summary.version ?? 0)) app.detail = detail;
  }
  queueRender();
}

/**
 * The selected occurrence changed elsewhere: re-read its detail (an audited
 * read) and recommendation, once things settle, and not while one of our own
 * actions is under way (its answer is the fresh detail).
 */
function refreshSelected() {
  const id = app.selected;
  if (!id) return;
  clearTimeout(detailTimer);
  detailTimer = setTimeout(() => {
    const s = app.byId.get(id);
    if (app.busy || app.selected !== id || !s) return;
    if (!app.detail || (s.version ?? 0) > (app.detail.summary.version ?? 0)) loadDetail(id);
    if (app.tab === "dispatch" && app.recommendation && app.recommendation.version !== s.version) loadRecommendation();
  }, 400);
}

function wantsRecommendation(s) {
  return s && s.decision === "dispatch" && ["awaiting_dispatch", "in_progress", "units_free"].includes(s.status);
}

function loadRecommendation() {
  clearTimeout(recTimer);
  recTimer = setTimeout(async () => {
    const id = app.selected;
    const s = app.byId.get(id);
    if (!can(app.session?.user.role, "recommendation") || !wantsRecommendation(s)) {
      renderRecommendation();
      return;
    }
    try {
      const data = await api.recommendation(id);
      if (app.selected === id) {
        app.recommendation = { id, version: app.byId.get(id)?.version, data };
        renderRecommendation();
      }
    } catch (err) {
      if (app.selected === id && err?.status !== 401) {
        app.recommendation = { id, version: s.version, data: null, error: errorText("Recomendação indisponível", err) };
        renderRecommendation();
      }
    }
  }, 50);
}

$("rec-refresh").addEventListener("click", () => loadRecommendation());

// Clicking an occurrence anywhere selects it.
document.addEventListener("click", (ev) => {
  const item = ev.target.closest("[data-occurrence-id]");
  if (item && !ev.target.closest("button") && item.closest(".panels")) select(item.dataset.occurrenceId);
});
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "Enter" && ev.key !== " ") return;
  const item = ev.target.closest?.("li[data-occurrence-id], tr[data-occurrence-id]");
  if (item) {
    ev.preventDefault();
    select(item.dataset.occurrenceId);
  }
});

// --- tabs --------------------------------------------------------------------------------

function showTab(tab) {
  app.tab = tab;
  document.body.dataset.tab = tab;
  for (const b of document.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  for (const t of ["intake", "regulation", "dispatch", "open"]) $(`tab-${t}`).hidden = t !== tab;
  if (tab === "intake") picker?.refresh();
  if (tab === "dispatch") loadRecommendation();
  render();
}

for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));

// --- Atendimento (TARM) --------------------------------------------------------------------

const intakeForm = $("intake-form");
let picker = null;
try {
  picker = new PickerMap($("picker-map"), {
    tiles: config.tiles,
    attribution: config.tiles_attribution,
    onPick(lat, lon) {
      if (!can(app.session?.user.role, "intake")) return;
      intakeForm.lat.value = formatCoordinate(lat);
      intakeForm.lon.value = formatCoordinate(lon);
    },
  });
} catch {
  // No map: latitude and longitude are typed.
}

function formatCoordinate(v) {
  return String(v).replace(".", ",");
}

for (const name of ["lat", "lon"]) {
  intakeForm[name].addEventListener("change", () => {
    const lat = Number(intakeForm.lat.value.trim().replace(",", "."));
    const lon = Number(intakeForm.lon.value.trim().replace(",", "."));
    const ok = intakeForm.lat.value.trim() && intakeForm.lon.value.trim() && Number.isFinite(lat) && Number.isFinite(lon);
    picker?.mark(ok ? lat : null, ok ? lon : null);
  });
}

intakeForm.addEventListener("reset", () => {
  setTimeout(() => {
    intakeForm.municipality.value = app.central ?? "";
    picker?.mark(null, null);
    clearError(intakeForm, "intake");
  });
});

intakeForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!app.central) {
    notice("Escolha a central antes de registrar o chamado.", "error");
    return;
  }
  const fields = Object.fromEntries(new FormData(intakeForm).entries());
  const detail = await act(
    "Não foi possível registrar o chamado",
    () => api.createOccurrence(intakeBody(fields, app.central)),
    { form: intakeForm, errorKey: "intake" },
  );
  if (detail) {
    intakeForm.reset();
    select(detail.summary.id);
    notice(`Chamado nº ${detail.summary.number} registrado: aguardando regulação.`);
  }
});

for (const b of document.querySelectorAll("[data-non-case]")) {
  b.addEventListener("click", async () => {
    const s = app.byId.get(app.selected);
    if (!s) return;
    const reason = b.dataset.nonCase;
    const note = await ask({
      title: `Encerrar o chamado nº ${s.number} como ${NON_CASE_PT[reason]}`,
      label: "Observação (opcional)",
    });
    if (note === null) return;
    const detail = await act(`Não foi possível encerrar o chamado nº ${s.number}`, () => api.nonCase(s.id, reason, note));
    if (detail) notice(`Chamado nº ${s.number} encerrado como ${NON_CASE_PT[reason]}.`);
  });
}

// --- Regulação (médico regulador) ------------------------------------------------------------

const regForm = $("reg-form");
$("unit-counts").innerHTML = UNIT_TYPES.map(
  (t) => `<label class="unit-count"><span>${t}</span>
    <button type="button" class="btn small" data-count-step="-1" data-type="${t}" aria-label="menos ${t}">−</button>
    <input name="count-${t}" type="number" min="0" max="9" value="0" inputmode="numeric">
    <button type="button" class="btn small" data-count-step="1" data-type="${t}" aria-label="mais ${t}">+</button></label>`,
).join("");

$("unit-counts").addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-count-step]");
  if (!b || b.disabled) return;
  const input = regForm[`count-${b.dataset.type}`];
  input.value = String(Math.min(9, Math.max(0, Number(input.value || 0) + Number(b.dataset.countStep))));
  if (Number(input.value) > 0) regForm.querySelector("[name=decision][value=dispatch]").checked = true;
  syncDecision();
});
regForm.addEventListener("change", syncDecision);

function syncDecision() {
  const decision = regForm.querySelector("[name=decision]:checked")?.value;
  $("unit-counts").classList.toggle("off", decision !== "dispatch");
  const p = regForm.querySelector("[name=priority]:checked")?.value;
  regForm.dataset.priority = p ?? "";
}

/** Prefills the form from an occurrence already regulated (re-regulation). */
function fillRegulationForm(s) {
  regForm.reset();
  if (s?.priority) {
    const p = regForm.querySelector(`[name=priority][value="${s.priority}"]`);
    if (p) p.checked = true;
  }
  if (s?.decision) {
    const d = regForm.querySelector(`[name=decision][value="${s.decision}"]`);
    if (d) d.checked = true;
  }
  for (const t of UNIT_TYPES) regForm[`count-${t}`].value = String((s?.requested ?? []).filter((x) => x === t).length);
  syncDecision();
}

regForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const s = app.byId.get(app.selected);
  if (!s) {
    showError("Regulação", { message: "selecione uma ocorrência da fila" }, regForm, "regulation");
    return;
  }
  const counts = Object.fromEntries(UNIT_TYPES.map((t) => [t, regForm[`count-${t}`].value || "0"]));
  const detail = await act(
    `Não foi possível regular a ocorrência nº ${s.number}`,
    () =>
      api.regulate(
        s.id,
        regulationBody({
          priority: regForm.querySelector("[name=priority]:checked")?.value,
          decision: regForm.querySelector("[name=decision]:checked")?.value,
          counts,
          note: regForm.note.value,
        }),
      ),
    { form: regForm, errorKey: "regulation" },
  );
  if (detail) {
    const d = detail.summary;
    notice(`Ocorrência nº ${d.number} regulada: ${PRIORITY_PT[d.priority] ?? ""} · ${DECISION_PT[d.decision] ?? ""}.`);
    regForm.note.value = "";
  }
});

// --- Despacho (rádio-operador) -------------------------------------------------------------------

$("rec-table").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-dispatch]");
  if (!b) return;
  const s = app.byId.get(app.selected);
  const row = (app.recommendation?.data ? recommendationRows(app.recommendation.data) : []).find((r) => r.unit === b.dataset.dispatch);
  if (!s || !row) return;
  let reason;
  if (!row.first) {
    reason = await ask({
      title: `Empenhar ${row.label ?? row.unit} (não é a primeira ${row.type} recomendada)`,
      label: "Justificativa",
      validate: (v) => (v ? "" : "A justificativa é obrigatória."),
    });
    if (reason === null) return;
  }
  b.disabled = true;
  const detail = await act(`Não foi possível empenhar ${row.label ?? row.unit}`, () => api.dispatch(s.id, row.unit, reason));
  if (detail) {
    notice(`${row.label ?? row.unit} empenhada na ocorrência nº ${detail.summary.number}.`);
    loadRecommendation();
  } else {
    b.disabled = false;
  }
});

$("units-table").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-step]");
  if (!b) return;
  const s = app.byId.get(app.selected);
  const unit = s?.units?.find((u) => u.unit === b.dataset.unit);
  if (!s || !unit) return;
  const step = b.dataset.step;
  const body = { step };
  const name = unit.label ?? unit.unit;
  if (step === "at_destination") {
    const cnes = await ask({
      title: `${name} chegou ao destino`,
      label: "CNES do estabelecimento de destino (7 dígitos)",
      multiline: false,
      validate: (v) => (validCnes(v) ? "" : "Informe o CNES com 7 dígitos."),
    });
    if (cnes === null) return;
    body.destination_cnes = cnes;
  } else if (step === "cancelled") {
    const note = await ask({
      title: `Cancelar o empenho de ${name}`,
      label: "Motivo do cancelamento",
      validate: (v) => (v ? "" : "Informe o motivo."),
    });
    if (note === null) return;
    body.note = note;
  }
  const detail = await act(`Não foi possível registrar "${stepLabel(step)}" de ${name}`, () => api.step(s.id, unit.unit, body));
  if (detail) notice(`${name}: ${stepLabel(step)}.`);
});

$("close-occurrence").addEventListener("click", async () => {
  const s = app.byId.get(app.selected);
  if (!s) return;
  const note = await ask({ title: `Encerrar a ocorrência nº ${s.number}`, label: "Observação (opcional)" });
  if (note === null) return;
  const detail = await act(`Não foi possível encerrar a ocorrência nº ${s.number}`, () => api.close(s.id, note));
  if (detail) notice(`Ocorrência nº ${s.number} encerrada.`);
});

// --- rendering ------------------------------------------------------------------------------------

let renderQueued = false;
function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

const muniName = (code) => municipalityNames.get(code) ?? code ?? "";
const prioClass = (s) => `p-${s.priority ?? "none"}`;
const prioBadge = (s) => `<span class="prio ${prioClass(s)}">${esc(s.priority ? PRIORITY_PT[s.priority] : "—")}</span>`;

function clockCell(s) {
  return `<span class="clock-cell" data-clock-id="${esc(s.id)}"></span>`;
}

function unitsText(s) {
  const parts = (s.units ?? []).map((u) => `${u.label ?? u.unit} (${stepLabel(u.step)})`);
  // `uncovered`: requested types no unit was sent for yet (when the server says).
  const missing = Array.isArray(s.uncovered) ? s.uncovered : parts.length ? [] : (s.requested ?? []);
  if (missing.length) parts.push(`${parts.length ? "falta" : "pedido"}: ${missing.join(", ")}`);
  return parts.join(", ");
}

function queueItem(s, { sub } = {}) {
  const selected = s.id === app.selected ? " selected" : "";
  return `<li data-occurrence-id="${esc(s.id)}" data-status="${esc(s.status)}" class="occ-item ${prioClass(s)}${selected}" tabindex="0">
    <span class="num">nº ${esc(s.number)}</span>${prioBadge(s)}
    <span class="nat">${esc(natureLabel(s.nature))}</span>
    ${clockCell(s)}
    <span class="sub">${esc([muniName(s.municipality), sub ?? statusLabel(s.status), sub ? "" : unitsText(s)].filter(Boolean).join(" · "))}</span>
  </li>`;
}

function list(el, items, empty, render) {
  el.innerHTML = items.length ? items.map(render).join("") : `<li class="empty">${esc(empty)}</li>`;
}

function render() {
  if (!app.session) return;
  const all = [...app.byId.values()];
  const role = app.session.user.role;
  const queue = regulationQueue(all);
  const board = dispatchBoard(all);
  const open = openByPriority(all);
  const counts = { intake: queue.length, regulation: queue.length, dispatch: board.awaiting_dispatch.length, open: open.length };
  for (const el of document.querySelectorAll("[data-count]")) el.textContent = counts[el.dataset.count] ? String(counts[el.dataset.count]) : "";
  const noCentral = app.central ? "Nenhuma" : "Escolha a central";

  // Atendimento: the calls waiting for the physician; non-case on the selected one.
  list($("intake-list"), queue, `${noCentral} chamada aguardando regulação.`, (s) => queueItem(s));
  const sel = app.byId.get(app.selected);
  const nonCase = $("non-case");
  nonCase.hidden = !(sel && sel.status === "awaiting_regulation" && can(role, "non_case"));
  $("non-case-number").textContent = sel ? `nº ${sel.number}` : "";

  // Regulação.
  list($("reg-queue"), queue, `${noCentral} ocorrência aguardando regulação.`, (s) => queueItem(s, { sub: `aberta em ${formatDateTime(s.opened_at, tz)}` }));
  const regulable = sel && isOpen(sel);
  regForm.dataset.occurrence = regulable ? sel.id : "";
  $("reg-target").textContent = regulable
    ? `nº ${sel.number} · ${natureLabel(sel.nature)} · ${sel.status === "awaiting_regulation" ? "primeira regulação" : "nova regulação"}`
    : "selecione uma ocorrência";
  regForm.querySelector("[data-action=regulate]").disabled = !(regulable && can(role, "regulate"));

  // Despacho.
  for (const [column, items] of Object.entries(board)) {
    const el = document.querySelector(`#board [data-column="${column}"]`);
    list(el, items, "Nenhuma.", (s) => queueItem(s));
  }
  renderRecommendation();
  renderUnits(sel, role);

  // Ocorrências abertas.
  const tbody = $("open-table").querySelector("tbody");
  tbody.innerHTML = open.length
    ? open
        .map(
          (s) => `<tr data-occurrence-id="${esc(s.id)}" data-status="${esc(s.status)}" class="${prioClass(s)}${s.id === app.selected ? " selected" : ""}" tabindex="0">
        <td>nº ${esc(s.number)}</td><td>${prioBadge(s)}</td><td>${esc(statusLabel(s.status))}</td>
        <td>${esc(natureLabel(s.nature))}</td><td>${esc(formatDateTime(s.opened_at, tz))}</td>
        <td>${clockCell(s)}</td><td>${esc(unitsText(s))}</td></tr>`,
        )
        .join("")
    : `<tr><td colspan="7" class="empty">${esc(noCentral)} ocorrência aberta.</td></tr>`;
  list($("finished-list"), recentlyFinished(all), "Nenhuma.", (s) =>
    queueItem(s, { sub: `${statusLabel(s.status)} em ${formatDateTime(s.closed_at ?? s.opened_at, tz)}` }),
  );

  renderDetail(sel);
  updateClocks();
}

function renderRecommendation() {
  const tbody = $("rec-table").querySelector("tbody");
  const s = app.byId.get(app.selected);
  const role = app.session?.user.role;
  $("rec-for").textContent = s ? `nº ${s.number}${s.requested?.length ? ` · pedido: ${s.requested.join(", ")}` : ""}` : "";
  let body;
  if (!s) body = "Selecione uma ocorrência do quadro.";
  else if (!can(role, "recommendation")) body = "A recomendação é para o rádio-operador e o médico regulador.";
  else if (!wantsRecommendation(s)) body = s.status === "awaiting_regulation" ? "Aguardando regulação." : "Nenhuma unidade a enviar.";
  else if (!app.recommendation || app.recommendation.id !== s.id) body = "Carregando…";
  else if (app.recommendation.error) body = app.recommendation.error;
  if (body) {
    tbody.innerHTML = `<tr><td colspan="7" class="empty">${esc(body)}</td></tr>`;
    return;
  }
  const rows = recommendationRows(app.recommendation.data);
  const engaged = new Set(engagedUnits(s).map((u) => u.unit));
  const mayDispatch = can(role, "dispatch");
  tbody.innerHTML = rows.length
    ? rows
        .map(
          (r) => `<tr data-unit="${esc(r.unit)}" data-type="${esc(r.type)}" class="${r.first ? "first" : ""}">
        <td><b>${esc(r.label ?? r.unit)}</b></td><td>${esc(r.type)}</td><td>${esc(unitStatusLabel(r.status))}</td>
        <td class="num">${esc(formatKm(r.distance_m))}</td><td class="num">${esc(formatEtaMin(r.eta_s))}</td>
        <td>${r.crew_complete === false ? `<span class="warn">incompleta</span>` : "completa"}</td>
        <td>${
          engaged.has(r.unit)
            ? `<span class="muted">empenhada</span>`
            : `<button type="button" class="btn ${r.first ? "primary" : ""}" data-dispatch="${esc(r.unit)}"${mayDispatch ? "" : " disabled"}>Empenhar</button>`
        }</td></tr>`,
        )
        .join("")
    : `<tr><td colspan="7" class="empty">Nenhuma unidade disponível com equipe completa para o pedido.</td></tr>`;
}

function renderUnits(s, role) {
  const tbody = $("units-table").querySelector("tbody");
  const mayStep = can(role, "steps");
  const units = s?.units ?? [];
  tbody.innerHTML = units.length
    ? units
        .map((u) => {
          const { allowed, next } = stepChoices(u.step);
          const buttons = STEP_ACTIONS.map(
            ({ step, label: text }) =>
              `<button type="button" class="btn small${step === next ? " primary" : ""}${step === "cancelled" ? " danger" : ""}" data-step="${step}" data-unit="${esc(u.unit)}"${
                mayStep && allowed.has(step) ? "" : " disabled"
              }>${esc(text)}</button>`,
          ).join("");
          return `<tr data-unit="${esc(u.unit)}" data-step="${esc(u.step)}"><td><b>${esc(u.label ?? u.unit)}</b></td><td>${esc(u.type)}</td>
            <td>${esc(stepLabel(u.step))}</td><td>${esc(formatDateTime(u.at, tz))}</td><td class="steps">${buttons}</td></tr>`;
        })
        .join("")
    : `<tr><td colspan="5" class="empty">${s ? "Nenhuma unidade empenhada." : "Selecione uma ocorrência."}</td></tr>`;
  const close = $("close-occurrence");
  const engaged = engagedUnits(s).length;
  close.disabled = !(s && isOpen(s) && s.status !== "awaiting_regulation" && !engaged && can(role, "close"));
  close.title = engaged ? "Libere ou cancele as unidades antes de encerrar." : "";
}

/** A unit's label ("USA 01") when the occurrence lists it, else its id. */
function unitName(s, unit) {
  return s?.units?.find((u) => u.unit === unit)?.label ?? unit;
}

function renderDetail(s) {
  const aside = $("detail");
  if (!s) {
    aside.dataset.occurrenceId = "";
    aside.dataset.number = "";
    aside.dataset.status = "";
    aside.dataset.loaded = "false";
    aside.innerHTML = `<div class="empty">Selecione uma ocorrência.</div>`;
    return;
  }
  aside.dataset.occurrenceId = s.id;
  aside.dataset.number = String(s.number ?? "");
  aside.dataset.status = s.status;
  aside.dataset.loaded = String(Boolean(app.detail && app.detail.summary.id === s.id));
  aside.dataset.version = String(s.version ?? "");
  const d = app.detail && app.detail.summary.id === s.id ? app.detail : null;
  const call = d?.call ?? {};
  const row = (k, v) => (v === undefined || v === null || v === "" ? "" : `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`);
  const loc = call.location ? `${formatCoordinate(call.location.lat)}, ${formatCoordinate(call.location.lon)}` : "";
  const patient = [call.patient_name, typeof call.patient_age === "number" ? `${call.patient_age} anos` : ""].filter(Boolean).join(", ");
  const caller = [call.caller_name, call.caller_phone].filter(Boolean).join(" · ");
  const timeline = (d?.timeline ?? [])
    .map(timelineEntry)
    .map(
      (e) => `<li data-kind="${esc(e.kind)}"><time>${esc(formatTimeOfDay(e.at, tz))}</time>
        <div><b>${esc(kindLabel(e.kind))}</b>${e.unit ? ` · ${esc(unitName(s, e.unit))}` : ""}${e.step ? ` · ${esc(stepLabel(e.step))}` : ""}${e.by ? ` <span class="by">${esc(e.by)}</span>` : ""}
        ${e.corrected ? ` <span class="corrected">horário corrigido</span>` : ""}
        ${e.text ? `<div class="text">${esc(e.text)}</div>` : ""}</div></li>`,
    )
    .join("");
  aside.innerHTML = `<header class="detail-head ${prioClass(s)}">
      <div class="title"><b>Ocorrência nº ${esc(s.number)}</b>${prioBadge(s)}</div>
      <div class="meta">${esc(statusLabel(s.status))} · aberta em ${esc(formatDateTime(s.opened_at, tz))}${isOpen(s) ? ` · ${clockCell(s)}` : ""}</div>
    </header>
    <dl class="facts">
      ${row("Natureza", natureLabel(s.nature))}
      ${row("Município", `${muniName(s.municipality)} (${s.municipality})`)}
      ${row("Decisão", s.decision ? `${DECISION_PT[s.decision]}${s.requested?.length ? `: ${s.requested.join(", ")}` : ""}` : "")}
      ${row("Solicitante", caller)}
      ${row("Endereço", call.address)}
      ${row("Referência", call.reference_point)}
      ${row("Queixa", call.complaint)}
      ${row("Paciente", patient)}
      ${row("Localização", loc)}
      ${row("Regulada em", formatDateTime(s.regulated_at, tz))}
      ${row("Encerrada em", formatDateTime(s.closed_at, tz))}
    </dl>
    ${d ? "" : `<div class="muted loading">${can(app.session.user.role, "read") ? "Carregando dados do chamado…" : ""}</div>`}
    <h3>Linha do tempo</h3>
    <ol class="timeline">${timeline || `<li class="empty">${d ? "Sem eventos." : "…"}</li>`}</ol>`;
}

/** Elapsed times, every second, in place (no re-render under the pointer). */
function updateClocks() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-clock-id]")) {
    const s = app.byId.get(el.dataset.clockId);
    if (!s) continue;
    const c = responseClock(s, now);
    const finished = !isOpen(s);
    el.textContent = finished
      ? ""
      : `${formatElapsed(c.elapsedMs)}${c.targetMs !== null ? ` / ${s.target_min} min` : ""}${c.reached ? " ✓" : ""}`;
    const host = el.closest("li, tr, header") ?? el;
    host.classList.toggle("late", c.late);
  }
}

function tick() {
  $("clock").textContent = formatClock(new Date(), tz).slice(0, 16);
  if (app.session) {
    updateClocks();
    if (live.phase === "down") showConnection();
  }
}
setInterval(tick, 1000);
tick();

// --- start -----------------------------------------------------------------------------------------

const stored = readSession();
if (stored) {
  app.session = stored;
  let answer = null;
  try {
    answer = await api.session();
  } catch (err) {
    showLogin(err?.status === 401 ? "Sua sessão expirou. Entre novamente." : errorText("Não foi possível retomar a sessão", err));
  }
  if (answer) {
    app.session = { ...stored, user: answer.user, expires_at: answer.expires_at ?? stored.expires_at };
    saveSession();
    enter();
  }
} else {
  showLogin();
}
