//! The CSV rendering: one table a script reads with any CSV reader.
//!
//! - UTF-8 **with** a byte-order mark, `;` separator, CRLF line ends: Excel
//!   in pt-BR opens it with accents and columns right; Python reads it with
//!   `encoding="utf-8-sig"`, pandas with `sep=";", decimal=","`.
//! - One header row ([`CSV_COLUMNS`]); every row has every column; the first
//!   column, `secao`, says what the row is, and only the columns that apply
//!   to a section are filled:
//!
//! | secao | one row per | columns |
//! |---|---|---|
//! | `central` | fact about the central | `chave`, `texto` or `valor` |
//! | `regra` | setting in force | `chave`, `texto` or `valor` |
//! | `indicador` | indicator | `chave`, `texto`, `numerador`, `denominador`, `percentual` (empty: not applicable) |
//! | `resultado` | score, incentive | `chave`, `valor` (or `texto`) |
//! | `unidade_dia` | unit and day | `chave` (unit), `tipo`, `data`, `em_operacao`, `min_*` |
//! | `equipe_dia` | day | `data`, `coberto`, `min_descobertos`, `quantidade` (gaps) |
//! | `equipe_lacuna` | gap | `chave` (role), `tipo` (shift), `data`, `inicio`, `fim`, `presentes`, `exigidos`, `min_descobertos` |
//! | `tempo_resposta` | priority and interval | `chave` (priority), `tipo` (interval), `quantidade`, `media_s`, `p90_s`; with no data, one row with `texto` = `sem dados` |
//!
//! - Dates `dd/mm/aaaa`, times `dd/mm/aaaa hh:mm:ss` local; booleans
//!   `sim`/`não`; numbers with a decimal comma, no thousands separator, and
//!   full precision (the shortest text that reads back to the same number);
//!   amounts in reais with two decimals. Minutes are exact (milliseconds ÷
//!   60 000).

use samu_indicators::unit_day::minutes;
use samu_indicators::OutReason;

use crate::facts::{self, reason_column, role_key, shift_key, Value};
use crate::{pt, MonthlyReport, ReportError, ResponseInterval};

/// The header of the CSV, in order.
pub const CSV_COLUMNS: [&str; 30] = [
    "secao",
    "chave",
    "tipo",
    "data",
    "inicio",
    "fim",
    "texto",
    "valor",
    "numerador",
    "denominador",
    "percentual",
    "em_operacao",
    "min_em_operacao",
    "min_fora_contados",
    "min_fora_servico_manutencao",
    "min_fora_servico_sem_equipe",
    "min_fora_servico_equipe_incompleta",
    "min_fora_servico_equipamento",
    "min_fora_servico_limpeza",
    "min_fora_servico_outro",
    "min_equipe_incompleta",
    "min_sem_sinal",
    "min_sem_dados",
    "coberto",
    "min_descobertos",
    "presentes",
    "exigidos",
    "quantidade",
    "media_s",
    "p90_s",
];

/// One CSV row under construction.
struct Row([String; CSV_COLUMNS.len()]);

impl Row {
    fn new(section: &str) -> Self {
        let mut row = Row(Default::default());
        row.set("secao", section);
        row
    }

    fn set(&mut self, column: &str, value: impl Into<String>) -> &mut Self {
        let i = CSV_COLUMNS
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("no CSV column {column}"));
        self.0[i] = value.into();
        self
    }

    fn value(&mut self, value: &Value) -> &mut Self {
        match value {
            Value::Text(t) => self.set("texto", t.as_str()),
            Value::Number(n) => self.set("valor", pt::csv_number(*n)),
            Value::Money(b) => self.set("valor", pt::csv_brl(*b)),
        }
    }
}

/// Renders the report as CSV (see the module docs for the layout).
///
/// # Errors
/// Only if writing to memory fails, which it does not in practice.
pub fn render_csv(report: &MonthlyReport) -> Result<Vec<u8>, ReportError> {
    let tz = report.time_zone();
    let m = &report.indicators;
    let mut rows: Vec<Row> = Vec::new();

    for (section, list) in [
        ("central", facts::central(report)),
        ("regra", facts::rules(report)),
    ] {
        for f in list {
            let mut row = Row::new(section);
            row.set("chave", f.key).value(&f.value);
            rows.push(row);
        }
    }
    for i in m.indicators() {
        let mut row = Row::new("indicador");
        row.set("chave", i.kind.as_str())
            .set("texto", i.kind.label_pt())
            .set("numerador", i.numerator.to_string())
            .set("denominador", i.denominator.to_string())
            .set(
                "percentual",
                i.percent().map(pt::csv_number).unwrap_or_default(),
            );
        rows.push(row);
    }
    for f in facts::results(report) {
        let mut row = Row::new("resultado");
        row.set("chave", f.key).value(&f.value);
        rows.push(row);
    }
    for d in &m.unit_days {
        let mut row = Row::new("unidade_dia");
        row.set("chave", d.unit.as_str())
            .set("tipo", d.unit_type.code())
            .set("data", pt::date(d.date))
            .set("em_operacao", pt::yes_no(d.in_operation))
            .set(
                "min_em_operacao",
                pt::csv_number(minutes(d.in_operation_ms)),
            )
            .set(
                "min_fora_contados",
                pt::csv_number(minutes(d.counted_out_ms)),
            );
        for reason in OutReason::ALL {
            row.set(
                reason_column(reason),
                pt::csv_number(minutes(d.out_ms_of(reason))),
            );
        }
        rows.push(row);
    }
    for d in &m.team_days {
        let mut row = Row::new("equipe_dia");
        row.set("data", pt::date(d.date))
            .set("coberto", pt::yes_no(d.covered))
            .set("min_descobertos", pt::csv_number(minutes(d.short_ms)))
            .set("quantidade", d.gaps.len().to_string());
        rows.push(row);
    }
    for d in &m.team_days {
        for g in &d.gaps {
            let mut row = Row::new("equipe_lacuna");
            row.set("chave", role_key(g.role))
                .set("tipo", shift_key(g.shift))
                .set("data", pt::date(d.date))
                .set("inicio", pt::date_time(g.start, tz))
                .set("fim", pt::date_time(g.end, tz))
                .set("presentes", g.present.to_string())
                .set("exigidos", g.required.to_string())
                .set("min_descobertos", pt::csv_number(minutes(g.length_ms())));
            rows.push(row);
        }
    }
    if report.response_times.is_empty() {
        let mut row = Row::new("tempo_resposta");
        row.set("texto", "sem dados");
        rows.push(row);
    }
    for r in &report.response_times {
        for interval in ResponseInterval::ALL {
            let mut row = Row::new("tempo_resposta");
            row.set("chave", r.priority.as_str())
                .set("tipo", interval.as_str());
            match r.figure(interval) {
                Some(f) => row
                    .set("quantidade", f.count.to_string())
                    .set("media_s", pt::csv_number(f.mean_s))
                    .set("p90_s", pt::csv_number(f.p90_s)),
                None => row.set("quantidade", "0").set("texto", "sem dados"),
            };
            rows.push(row);
        }
    }

    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::WriterBuilder::new()
            .delimiter(b';')
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        writer.write_record(CSV_COLUMNS)?;
        for row in &rows {
            writer.write_record(&row.0)?;
        }
        writer.flush().map_err(csv::Error::from)?;
    }
    Ok(out)
}
