// The side panel: occurrences, units in operation per central, out of
// service, incomplete crews, team on duty. Rendered from the state.

import { esc, formatElapsed, formatNumber } from "./format.js";
import { PRIORITY_ORDER, PRIORITY_PT, STATUS_ORDER, occurrenceStatusLabel, reasonLabel, statusLabel } from "./labels.js";
import {
  incompleteCrew,
  operationByCentral,
  otherIndicators,
  outOfService,
  sortedOccurrences,
  statusCounts,
  teamOnDuty,
} from "./state.js";

const $ = (id) => document.getElementById(id);

export class Panel {
  constructor({ centrals, targetsMin }) {
    this.centrals = new Map(centrals.map((c) => [c.id, c]));
    this.targetsMin = targetsMin ?? {};
  }

  centralName(id) {
    return this.centrals.get(id)?.short ?? id;
  }

  /** A short tag for lists ("BH"), or the name. */
  centralTag(id) {
    const c = this.centrals.get(id);
    return c?.tag ?? c?.short ?? id;
  }

  render(state, now = Date.now()) {
    const units = [...state.units.values()];
    this.renderOccurrences(state, now);
    this.renderOperation(units, state.indicators);
    this.renderList(
      "oos",
      outOfService(units),
      (u) => `<li data-unit-id="${esc(u.id)}" data-reason="${esc(u.out_of_service_reason ?? "")}">` +
        `<span class="who"><b>${esc(u.label)}</b> <small>${esc(this.centralTag(u.central))}</small></span>` +
        `<span class="why">${esc(reasonLabel(u.out_of_service_reason))}</span></li>`,
      "Nenhuma unidade fora de serviço",
    );
    this.renderList(
      "crew",
      incompleteCrew(units),
      (u) => `<li data-unit-id="${esc(u.id)}" title="${esc(statusLabel(u.status))}">` +
        `<i class="swatch s-${esc(u.status)}"></i>` +
        `<span class="who"><b>${esc(u.label)}</b> <small>${esc(this.centralTag(u.central))}</small></span></li>`,
      "Todas as equipes completas",
    );
    this.renderLegend(units);
  }

  renderOccurrences(state, now) {
    const list = sortedOccurrences(state.occurrences.values());
    const counts = Object.fromEntries(PRIORITY_ORDER.map((p) => [p, 0]));
    for (const o of list) counts[o.priority] = (counts[o.priority] ?? 0) + 1;
    $("occ-counts").innerHTML = PRIORITY_ORDER.map(
      (p) => `<span class="count p-${p}" title="${PRIORITY_PT[p]}">${counts[p]}</span>`,
    ).join("");
    const items = list.map((o) => {
      const opened = Date.parse(o.opened_at);
      const elapsed = Number.isFinite(opened) ? now - opened : 0;
      const target = this.targetsMin[o.priority];
      const share = target ? elapsed / (target * 60000) : 0;
      const late = target && share >= 1;
      return (
        `<li class="occ p-${esc(o.priority)}${late ? " late" : ""}" data-occurrence-id="${esc(o.id)}">` +
        `<span class="prio">${esc(PRIORITY_PT[o.priority] ?? o.priority)}</span>` +
        `<span class="elapsed">${formatElapsed(elapsed)}</span>` +
        `<span class="target">${target ? `meta ${target} min` : "sem meta"}</span>` +
        `<span class="st">${esc(occurrenceStatusLabel(o.status))}</span>` +
        (target ? `<span class="bar"><i style="width:${Math.min(100, share * 100).toFixed(0)}%"></i></span>` : "") +
        `</li>`
      );
    });
    fill($("occ-list"), items, "Nenhuma ocorrência aberta", ["ocorrência", "ocorrências"]);
  }

  renderOperation(units, indicators) {
    const rows = operationByCentral(units);
    let totalUsa = [0, 0];
    let totalUsb = [0, 0];
    const cell = ({ ok, total }) => {
      if (!total) return `<td class="num none">—</td>`;
      const cls = ok === total ? "full" : ok === 0 ? "zero" : "part";
      return `<td class="num ${cls}"><b>${ok}</b><small>/${total}</small></td>`;
    };
    const html = [];
    for (const [central, row] of rows) {
      totalUsa = [totalUsa[0] + row.USA.ok, totalUsa[1] + row.USA.total];
      totalUsb = [totalUsb[0] + row.USB.ok, totalUsb[1] + row.USB.total];
      const team = teamOnDuty(indicators, central);
      const teamCell = team
        ? `<td class="num ${team.onDuty >= team.minimum ? "full" : "zero"}"><b>${team.onDuty}</b><small>/${team.minimum}</small></td>`
        : `<td class="nodata">sem dados</td>`;
      const extra = otherIndicators(indicators, central);
      html.push(
        `<tr data-central="${esc(central)}"><th>${esc(this.centralName(central))}</th>${cell(row.USA)}${cell(row.USB)}${teamCell}</tr>`,
      );
      if (extra.length) {
        html.push(
          `<tr class="extra"><td colspan="4">${extra
            .map(([k, v]) => `<span>${esc(k.replaceAll("_", " "))}: <b>${esc(formatNumber(v))}</b></span>`)
            .join(" ")}</td></tr>`,
        );
      }
    }
    if (!rows.size) html.push(`<tr><td colspan="4" class="empty">Aguardando dados da frota</td></tr>`);
    $("op-body").innerHTML = html.join("");
    $("op-total").innerHTML =
      `USA <b>${totalUsa[0]}</b>/${totalUsa[1]} · USB <b>${totalUsb[0]}</b>/${totalUsb[1]}`;
  }

  renderList(id, units, item, empty) {
    $(`${id}-count`).textContent = String(units.length);
    fill($(`${id}-list`), units.map(item), empty, ["unidade", "unidades"]);
  }

  renderLegend(units) {
    const counts = statusCounts(units);
    $("legend").innerHTML = STATUS_ORDER.map(
      (s) => `<span class="lg s-${s}${counts[s] ? "" : " zero"}"><i></i>${esc(statusLabel(s))} <b>${counts[s]}</b></span>`,
    ).join("");
    $("unit-total").textContent = String(units.length);
  }
}

/**
 * Fills a list without ever scrolling: items that do not fit are replaced by
 * one "+ N outras" line.
 */
function fill(list, items, emptyText, [one, many]) {
  if (!items.length) {
    list.innerHTML = `<li class="empty">${esc(emptyText)}</li>`;
    return;
  }
  list.innerHTML = items.join("");
  if (list.scrollHeight <= list.clientHeight + 1) return;
  let shown = items.length;
  while (shown > 0) {
    shown -= 1;
    const rest = items.length - shown;
    list.innerHTML = items.slice(0, shown).join("") + `<li class="more">+ ${rest} ${rest === 1 ? one : many}</li>`;
    if (list.scrollHeight <= list.clientHeight + 1) break;
  }
}
