//! The XLSX rendering (rust_xlsxwriter): four sheets with Portuguese headers.
//!
//! Numbers are stored as numbers and dates as dates; only their display
//! formats are set, with Excel's locale-independent codes (`0.00`,
//! `#,##0.00`, `dd/mm/yyyy`), which a pt-BR Excel shows with a decimal comma
//! and a dot between thousands.
//!
//! - **Indicadores**: the central, the settings in force, the three
//!   indicators (numerator, denominator, percentage, weight, formula), the
//!   weighted score and the incentive.
//! - **Unidades-dia**: one row per unit and day, minutes by reason.
//! - **Equipe mínima**: one row per day; below, one row per gap.
//! - **Tempos-resposta**: one row per priority and interval, or "sem dados".

use rust_xlsxwriter::{Color, DocProperties, Format, FormatAlign, Workbook, Worksheet, XlsxError};
use samu_indicators::unit_day::minutes;
use samu_indicators::{IndicatorKind, OutReason};

use crate::facts::{self, Value};
use crate::{pt, MonthlyReport, ReportError, ResponseInterval};

/// Sheet names, in order.
pub const SHEETS: [&str; 4] = [
    "Indicadores",
    "Unidades-dia",
    "Equipe mínima",
    "Tempos-resposta",
];

/// Headers of the unit-day sheet, before the reason columns.
pub(crate) const UNIT_DAY_HEADERS: [&str; 5] = [
    "Unidade",
    "Tipo",
    "Data",
    "Em operação (min)",
    "Fora, contados pela regra (min)",
];

/// Title of the gap table on the team sheet.
pub const GAPS_TITLE: &str = "Lacunas (períodos abaixo da equipe mínima)";

/// The formula of an indicator, in words.
pub(crate) fn formula(kind: IndicatorKind) -> &'static str {
    match kind {
        IndicatorKind::UsbInOperation => {
            "Σ unidades-dia de USB em funcionamento ÷ Σ unidades-dia de USB habilitadas × 100"
        }
        IndicatorKind::UsaInOperation => {
            "Σ unidades-dia de USA em funcionamento ÷ Σ unidades-dia de USA habilitadas × 100"
        }
        IndicatorKind::MinimumTeamDays => {
            "dias cobertos com, pelo menos, a equipe mínima ÷ dias do mês × 100"
        }
    }
}

/// Annex I's name with its number: `(1) Unidades de Suporte Básico …`.
pub(crate) fn numbered_label(kind: IndicatorKind) -> String {
    let n = IndicatorKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0)
        + 1;
    format!("({n}) {}", kind.label_pt())
}

/// Column header of the minutes out for a reason.
pub(crate) fn reason_header(reason: OutReason) -> String {
    format!("Fora: {} (min)", reason.label_pt())
}

struct Formats {
    title: Format,
    section: Format,
    header: Format,
    integer: Format,
    decimal: Format,
    minutes: Format,
    percent: Format,
    money: Format,
    date: Format,
    date_time: Format,
    duration: Format,
    wrap: Format,
}

impl Formats {
    fn new() -> Self {
        let header = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_align(FormatAlign::Top)
            .set_background_color(Color::RGB(0xDDE6F0));
        Self {
            title: Format::new().set_bold().set_font_size(14),
            section: Format::new().set_bold().set_font_size(12),
            header,
            integer: Format::new().set_num_format("0"),
            decimal: Format::new().set_num_format("0.00"),
            minutes: Format::new().set_num_format("0.0"),
            percent: Format::new().set_num_format("0.00\" %\""),
            money: Format::new().set_num_format("\"R$ \"#,##0.00"),
            date: Format::new().set_num_format("dd/mm/yyyy"),
            date_time: Format::new().set_num_format("dd/mm/yyyy hh:mm:ss"),
            duration: Format::new().set_num_format("[m]:ss"),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
        }
    }
}

fn write_value(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    value: &Value,
    f: &Formats,
) -> Result<(), XlsxError> {
    match value {
        Value::Text(t) => ws.write_string(row, col, t)?,
        Value::Number(n) if n.fract() == 0.0 => {
            ws.write_number_with_format(row, col, *n, &f.integer)?
        }
        Value::Number(n) => ws.write_number_with_format(row, col, *n, &f.decimal)?,
        Value::Money(b) => ws.write_number_with_format(row, col, b.reais(), &f.money)?,
    };
    Ok(())
}

fn headers(ws: &mut Worksheet, row: u32, titles: &[String], f: &Formats) -> Result<(), XlsxError> {
    for (c, t) in titles.iter().enumerate() {
        ws.write_string_with_format(row, c as u16, t, &f.header)?;
    }
    Ok(())
}

fn indicators_sheet(
    ws: &mut Worksheet,
    report: &MonthlyReport,
    f: &Formats,
) -> Result<(), XlsxError> {
    let m = &report.indicators;
    ws.set_column_width(0, 62)?;
    ws.set_column_width(1, 16)?;
    for c in 2..=4 {
        ws.set_column_width(c, 13)?;
    }
    ws.set_column_width(5, 70)?;
    ws.write_string_with_format(
        0,
        0,
        format!(
            "Relatório de acompanhamento: {} ({})",
            report.central.name,
            pt::month(report.month())
        ),
        &f.title,
    )?;
    let mut row = 2;
    for (title, list) in [
        ("Central", facts::central(report)),
        ("Regras e parâmetros em vigor", facts::rules(report)),
    ] {
        ws.write_string_with_format(row, 0, title, &f.section)?;
        row += 1;
        for fact in list {
            ws.write_string(row, 0, &fact.label)?;
            write_value(ws, row, 1, &fact.value, f)?;
            row += 1;
        }
        row += 1;
    }
    ws.write_string_with_format(
        row,
        0,
        "Indicadores (Resolução SES/MG nº 6.953/2019, Anexo I)",
        &f.section,
    )?;
    row += 1;
    let titles = [
        "Indicador",
        "Numerador",
        "Denominador",
        "Percentual",
        "Peso (%)",
        "Fórmula",
    ]
    .map(String::from);
    headers(ws, row, &titles, f)?;
    row += 1;
    for i in m.indicators() {
        ws.write_string(row, 0, numbered_label(i.kind))?;
        ws.write_number_with_format(row, 1, i.numerator as f64, &f.integer)?;
        ws.write_number_with_format(row, 2, i.denominator as f64, &f.integer)?;
        match i.percent() {
            Some(p) => ws.write_number_with_format(row, 3, p, &f.percent)?,
            None => ws.write_string(row, 3, "não se aplica")?,
        };
        ws.write_number_with_format(row, 4, i.kind.weight(&report.settings.weights), &f.decimal)?;
        ws.write_string_with_format(row, 5, formula(i.kind), &f.wrap)?;
        row += 1;
    }
    row += 1;
    ws.write_string_with_format(row, 0, "Resultado do mês", &f.section)?;
    row += 1;
    for fact in facts::results(report) {
        ws.write_string(row, 0, &fact.label)?;
        match fact.value {
            Value::Number(n) => {
                ws.write_number_with_format(row, 1, n, &f.percent)?;
            }
            ref other => write_value(ws, row, 1, other, f)?,
        }
        row += 1;
    }
    Ok(())
}

fn unit_days_sheet(
    ws: &mut Worksheet,
    report: &MonthlyReport,
    f: &Formats,
) -> Result<(), XlsxError> {
    let mut titles: Vec<String> = UNIT_DAY_HEADERS.iter().map(|s| s.to_string()).collect();
    titles.extend(OutReason::ALL.iter().map(|r| reason_header(*r)));
    titles.push("Dia em funcionamento".to_owned());
    headers(ws, 0, &titles, f)?;
    ws.set_row_height(0, 45)?;
    ws.set_column_width(0, 12)?;
    ws.set_column_width(1, 6)?;
    ws.set_column_width(2, 11)?;
    for c in 3..titles.len() as u16 {
        ws.set_column_width(c, 13)?;
    }
    for (i, d) in report.indicators.unit_days.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, d.unit.as_str())?;
        ws.write_string(row, 1, d.unit_type.code())?;
        ws.write_datetime_with_format(row, 2, d.date, &f.date)?;
        ws.write_number_with_format(row, 3, minutes(d.in_operation_ms), &f.minutes)?;
        ws.write_number_with_format(row, 4, minutes(d.counted_out_ms), &f.minutes)?;
        for (k, reason) in OutReason::ALL.iter().enumerate() {
            ws.write_number_with_format(
                row,
                5 + k as u16,
                minutes(d.out_ms_of(*reason)),
                &f.minutes,
            )?;
        }
        ws.write_string(
            row,
            titles.len() as u16 - 1,
            if d.in_operation { "Sim" } else { "Não" },
        )?;
    }
    let last = report.indicators.unit_days.len() as u32;
    ws.set_freeze_panes(1, 0)?;
    if last > 0 {
        ws.autofilter(0, 0, last, titles.len() as u16 - 1)?;
    }
    Ok(())
}

fn team_sheet(ws: &mut Worksheet, report: &MonthlyReport, f: &Formats) -> Result<(), XlsxError> {
    let tz = report.time_zone();
    let m = &report.indicators;
    ws.set_column_width(0, 11)?;
    for c in 1..=2 {
        ws.set_column_width(c, 19)?;
    }
    for c in 3..=7 {
        ws.set_column_width(c, 16)?;
    }
    let titles = [
        "Data",
        "Coberto",
        "Minutos abaixo da equipe mínima",
        "Lacunas",
    ]
    .map(String::from);
    headers(ws, 0, &titles, f)?;
    ws.set_row_height(0, 30)?;
    for (i, d) in m.team_days.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_datetime_with_format(row, 0, d.date, &f.date)?;
        ws.write_string(row, 1, if d.covered { "Sim" } else { "Não" })?;
        ws.write_number_with_format(row, 2, minutes(d.short_ms), &f.minutes)?;
        ws.write_number_with_format(row, 3, d.gaps.len() as f64, &f.integer)?;
    }
    let mut row = m.team_days.len() as u32 + 2;
    ws.write_string_with_format(row, 0, GAPS_TITLE, &f.section)?;
    row += 1;
    let titles = [
        "Data",
        "Início",
        "Fim",
        "Função",
        "Turno",
        "Presentes",
        "Exigidos",
        "Duração (min)",
    ]
    .map(String::from);
    headers(ws, row, &titles, f)?;
    row += 1;
    for d in &m.team_days {
        for g in &d.gaps {
            ws.write_datetime_with_format(row, 0, d.date, &f.date)?;
            ws.write_datetime_with_format(
                row,
                1,
                g.start.with_timezone(&tz).naive_local(),
                &f.date_time,
            )?;
            ws.write_datetime_with_format(
                row,
                2,
                g.end.with_timezone(&tz).naive_local(),
                &f.date_time,
            )?;
            ws.write_string(row, 3, g.role.label_pt())?;
            ws.write_string(row, 4, g.shift.label_pt())?;
            ws.write_number_with_format(row, 5, f64::from(g.present), &f.integer)?;
            ws.write_number_with_format(row, 6, f64::from(g.required), &f.integer)?;
            ws.write_number_with_format(row, 7, minutes(g.length_ms()), &f.minutes)?;
            row += 1;
        }
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

fn response_sheet(
    ws: &mut Worksheet,
    report: &MonthlyReport,
    f: &Formats,
) -> Result<(), XlsxError> {
    let titles = [
        "Prioridade",
        "Intervalo",
        "Ocorrências",
        "Média (min:s)",
        "90º percentil (min:s)",
    ]
    .map(String::from);
    headers(ws, 0, &titles, f)?;
    ws.set_column_width(0, 14)?;
    ws.set_column_width(1, 28)?;
    for c in 2..=4 {
        ws.set_column_width(c, 16)?;
    }
    if report.response_times.is_empty() {
        ws.write_string(1, 0, "sem dados")?;
        return Ok(());
    }
    let mut row = 1;
    for r in &report.response_times {
        for interval in ResponseInterval::ALL {
            ws.write_string(row, 0, &r.priority)?;
            ws.write_string(row, 1, interval.label_pt())?;
            match r.figure(interval) {
                Some(fig) => {
                    ws.write_number_with_format(row, 2, fig.count as f64, &f.integer)?;
                    ws.write_number_with_format(row, 3, fig.mean_s / 86_400.0, &f.duration)?;
                    ws.write_number_with_format(row, 4, fig.p90_s / 86_400.0, &f.duration)?;
                }
                None => {
                    ws.write_number_with_format(row, 2, 0.0, &f.integer)?;
                    ws.write_string(row, 3, "sem dados")?;
                }
            }
            row += 1;
        }
    }
    Ok(())
}

/// Renders the report as an XLSX workbook.
///
/// # Errors
/// When rust_xlsxwriter fails to build the workbook (it should not for any
/// report this crate accepts).
pub fn render_xlsx(report: &MonthlyReport) -> Result<Vec<u8>, ReportError> {
    let f = Formats::new();
    let mut wb = Workbook::new();
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "Relatório de acompanhamento {} {}",
                report.central.name,
                report.month()
            ))
            .set_subject("Indicadores da Resolução SES/MG nº 6.953/2019")
            .set_author("samu-central")
            // The report's own time, so the same report gives the same bytes.
            .set_creation_datetime(&report.generated_at),
    );
    indicators_sheet(wb.add_worksheet().set_name(SHEETS[0])?, report, &f)?;
    unit_days_sheet(wb.add_worksheet().set_name(SHEETS[1])?, report, &f)?;
    team_sheet(wb.add_worksheet().set_name(SHEETS[2])?, report, &f)?;
    response_sheet(wb.add_worksheet().set_name(SHEETS[3])?, report, &f)?;
    Ok(wb.save_to_buffer()?)
}
