// Portuguese labels for what the feed carries (codes as in docs/status-model.md).

export const STATUS_PT = {
  available_at_base: "disponível na base",
  available_on_the_move: "disponível em trânsito",
  dispatched: "empenhada",
  en_route: "a caminho",
  on_scene: "no local",
  transporting: "transportando",
  at_destination: "no destino",
  out_of_service: "fora de serviço",
  no_signal: "sem sinal",
};

/** Display order of statuses (legend, counts). */
export const STATUS_ORDER = Object.keys(STATUS_PT);

export const AVAILABLE = new Set(["available_at_base", "available_on_the_move"]);
export const ON_A_CALL = new Set(["dispatched", "en_route", "on_scene", "transporting", "at_destination"]);

export const REASON_PT = {
  maintenance: "manutenção",
  no_crew: "sem equipe",
  incomplete_crew: "equipe incompleta",
  equipment: "equipamento",
  cleaning: "limpeza",
  other: "outro motivo",
};

export const PRIORITY_PT = {
  vermelho: "Vermelho",
  amarelo: "Amarelo",
  verde: "Verde",
  azul: "Azul",
};

export const PRIORITY_ORDER = ["vermelho", "amarelo", "verde", "azul"];

// Occurrence statuses are the regulation issue's; known ones get a label,
// others are shown as sent with underscores as spaces.
export const OCCURRENCE_STATUS_PT = {
  open: "aberta",
  received: "recebida",
  awaiting_regulation: "aguardando regulação",
  regulated: "regulada",
  awaiting_unit: "aguardando unidade",
  dispatched: "unidade empenhada",
  en_route: "a caminho",
  on_scene: "no local",
  transporting: "transportando",
  at_destination: "no destino",
};

/** Statuses that take an occurrence off the wall. */
export const OCCURRENCE_CLOSED = new Set([
  "closed", "finished", "cancelled", "canceled", "encerrada", "cancelada", "concluida", "concluída",
]);

export function statusLabel(code) {
  return STATUS_PT[code] ?? String(code ?? "").replaceAll("_", " ");
}

export function reasonLabel(code) {
  if (!code) return "motivo não informado";
  return REASON_PT[code] ?? String(code).replaceAll("_", " ");
}

export function occurrenceStatusLabel(code) {
  return OCCURRENCE_STATUS_PT[code] ?? String(code ?? "").replaceAll("_", " ");
}
