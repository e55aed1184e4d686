//! The PDF rendering: one readable document in Portuguese.
//!
//! krilla writes the PDF (fonts subset and embedded, text extractable);
//! this module only lays out: a cursor moves down A4 pages, text is wrapped
//! by measuring it with the same shaper krilla draws with (rustybuzz), and
//! tables repeat their header on every page. The whole document is laid out
//! first and drawn after, so each footer can say "página X de Y".
//!
//! The font is DejaVu Sans Condensed (Bitstream Vera licence, see
//! `fonts/LICENSE-DejaVu.txt`), shipped in the crate so that accented
//! Portuguese renders on any machine.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use krilla::Document;
use samu_indicators::{IncentiveRule, OutReason, Shift, StaffRole, UnitDay};

use crate::xlsx::{formula, numbered_label};
use crate::{pt, MonthlyReport, ReportError, ResponseInterval};

const REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed.ttf");
const BOLD: &[u8] = include_bytes!("../fonts/DejaVuSansCondensed-Bold.ttf");

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 42.0;
const MARGIN_TOP: f32 = 42.0;
/// The body stops here; the footer sits below.
const BODY_BOTTOM: f32 = PAGE_H - 48.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;

const BODY: f32 = 9.0;
const SMALL: f32 = 7.5;
const LINE: f32 = 1.3;
const CELL_PAD: f32 = 2.5;

const HEADER_FILL: (u8, u8, u8) = (0xDD, 0xE6, 0xF0);
const ZEBRA_FILL: (u8, u8, u8) = (0xF5, 0xF7, 0xFA);
const ALERT_FILL: (u8, u8, u8) = (0xF8, 0xD7, 0xD3);
const RULE_GRAY: (u8, u8, u8) = (0xB0, 0xB8, 0xC4);

/// Something to draw on a page.
enum Op {
    /// Text on a baseline.
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        text: String,
    },
    /// A filled rectangle.
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        rgb: (u8, u8, u8),
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Col {
    title: String,
    width: f32,
    align: Align,
}

fn col(title: &str, width: f32, align: Align) -> Col {
    Col {
        title: title.to_owned(),
        width,
        align,
    }
}

struct Row {
    cells: Vec<String>,
    fill: Option<(u8, u8, u8)>,
}

/// Measures text with the shaper krilla draws with.
struct Measure {
    regular: rustybuzz::Face<'static>,
    bold: rustybuzz::Face<'static>,
}

impl Measure {
    fn new() -> Result<Self, ReportError> {
        let face = |data| {
            rustybuzz::Face::from_slice(data, 0)
                .ok_or_else(|| ReportError::Pdf("the embedded font cannot be read".into()))
        };
        Ok(Self {
            regular: face(REGULAR)?,
            bold: face(BOLD)?,
        })
    }

    fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        let face = if bold { &self.bold } else { &self.regular };
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        let shaped = rustybuzz::shape(face, &[], buffer);
        let advance: i32 = shaped.glyph_positions().iter().map(|p| p.x_advance).sum();
        advance as f32 * size / f32::from(face.units_per_em() as u16)
    }

    /// Splits `text` into lines no wider than `max` (a word longer than a
    /// line is cut by characters).
    fn wrap(&self, text: &str, size: f32, bold: bool, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            for word in paragraph.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate, size, bold) <= max {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                let mut piece = String::new();
                for c in word.chars() {
                    piece.push(c);
                    if self.width(&piece, size, bold) > max && piece.chars().count() > 1 {
                        piece.pop();
                        lines.push(std::mem::take(&mut piece));
                        piece.push(c);
                    }
                }
                line = piece;
            }
            lines.push(line);
        }
        lines
    }
}

/// The pages being laid out and the cursor.
struct Layout {
    measure: Measure,
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Layout {
    fn new(measure: Measure) -> Self {
        Self {
            measure,
            pages: vec![Vec::new()],
            y: MARGIN_TOP,
        }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("at least one page")
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN_TOP;
    }

    /// Starts a new page unless `height` still fits.
    fn ensure(&mut self, height: f32) {
        if self.y + height > BODY_BOTTOM {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f32, baseline: f32, size: f32, bold: bool, text: &str) {
        self.ops().push(Op::Text {
            x,
            y: baseline,
            size,
            bold,
            text: text.to_owned(),
        });
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, rgb: (u8, u8, u8)) {
        self.ops().push(Op::Rect { x, y, w, h, rgb });
    }

    fn gap(&mut self, h: f32) {
        self.y += h;
    }

    /// A wrapped paragraph at `indent` from the margin.
    fn paragraph(&mut self, text: &str, size: f32, bold: bool, indent: f32) {
        let lines = self.measure.wrap(text, size, bold, CONTENT_W - indent);
        for line in lines {
            self.ensure(size * LINE);
            self.y += size * LINE;
            self.text_at(MARGIN_X + indent, self.y - size * 0.3, size, bold, &line);
        }
    }

    /// A section heading, kept with at least a few lines of what follows.
    fn heading(&mut self, text: &str) {
        self.ensure(12.0 * LINE + 60.0);
        self.gap(8.0);
        self.paragraph(text, 12.0, true, 0.0);
        self.rect(MARGIN_X, self.y + 1.5, CONTENT_W, 0.8, RULE_GRAY);
        self.gap(5.0);
    }

    fn subheading(&mut self, text: &str) {
        self.ensure(BODY * LINE + 40.0);
        self.gap(4.0);
        self.paragraph(text, 10.0, true, 0.0);
        self.gap(2.0);
    }

    /// Label: value lines, labels in a column of `key_w`.
    fn key_values(&mut self, rows: &[(String, String)], key_w: f32) {
        for (key, value) in rows {
            let keys = self.measure.wrap(key, BODY, true, key_w - 6.0);
            let values = self.measure.wrap(value, BODY, false, CONTENT_W - key_w);
            let n = keys.len().max(values.len());
            self.ensure(n as f32 * BODY * LINE + 2.0);
            let top = self.y;
            for (i, k) in keys.iter().enumerate() {
                let base = top + (i as f32 + 1.0) * BODY * LINE - BODY * 0.3;
                self.text_at(MARGIN_X, base, BODY, true, k);
            }
            for (i, v) in values.iter().enumerate() {
                let base = top + (i as f32 + 1.0) * BODY * LINE - BODY * 0.3;
                self.text_at(MARGIN_X + key_w, base, BODY, false, v);
            }
            self.y = top + n as f32 * BODY * LINE + 2.0;
        }
    }

    fn table_row(
        &mut self,
        cols: &[Col],
        cells: &[String],
        size: f32,
        bold: bool,
        fill: Option<(u8, u8, u8)>,
    ) {
        let wrapped: Vec<Vec<String>> = cols
            .iter()
            .zip(cells)
            .map(|(c, text)| {
                self.measure
                    .wrap(text, size, bold, c.width - 2.0 * CELL_PAD)
            })
            .collect();
        let n = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let h = n as f32 * size * LINE + 2.0 * CELL_PAD;
        let top = self.y;
        if let Some(rgb) = fill {
            self.rect(MARGIN_X, top, cols.iter().map(|c| c.width).sum(), h, rgb);
        }
        let mut x = MARGIN_X;
        for (c, lines) in cols.iter().zip(&wrapped) {
            for (i, line) in lines.iter().enumerate() {
                let base = top + CELL_PAD + (i as f32 + 1.0) * size * LINE - size * 0.3;
                let tx = match c.align {
                    Align::Left => x + CELL_PAD,
                    Align::Right => x + c.width - CELL_PAD - self.measure.width(line, size, bold),
                };
                self.text_at(tx, base, size, bold, line);
            }
            x += c.width;
        }
        self.y = top + h;
    }

    fn row_height(&self, cols: &[Col], cells: &[String], size: f32, bold: bool) -> f32 {
        let n = cols
            .iter()
            .zip(cells)
            .map(|(c, t)| {
                self.measure
                    .wrap(t, size, bold, c.width - 2.0 * CELL_PAD)
                    .len()
            })
            .max()
            .unwrap_or(1)
            .max(1);
        n as f32 * size * LINE + 2.0 * CELL_PAD
    }

    /// A table; the header repeats on each page it spans.
    fn table(&mut self, cols: &[Col], rows: &[Row], size: f32) {
        let titles: Vec<String> = cols.iter().map(|c| c.title.clone()).collect();
        let header_h = self.row_height(cols, &titles, size, true);
        let first_h = rows
            .first()
            .map_or(0.0, |r| self.row_height(cols, &r.cells, size, false));
        self.ensure(header_h + first_h);
        self.table_row(cols, &titles, size, true, Some(HEADER_FILL));
        for (i, row) in rows.iter().enumerate() {
            let h = self.row_height(cols, &row.cells, size, false);
            if self.y + h > BODY_BOTTOM {
                self.new_page();
                self.table_row(cols, &titles, size, true, Some(HEADER_FILL));
            }
            let fill = row.fill.or((i % 2 == 1).then_some(ZEBRA_FILL));
            self.table_row(cols, &row.cells, size, false, fill);
        }
        self.rect(
            MARGIN_X,
            self.y,
            cols.iter().map(|c| c.width).sum(),
            0.6,
            RULE_GRAY,
        );
        self.gap(4.0);
    }
}

/// Column widths scaled to fill the text width.
fn fit(mut cols: Vec<Col>) -> Vec<Col> {
    let total: f32 = cols.iter().map(|c| c.width).sum();
    for c in &mut cols {
        c.width *= CONTENT_W / total;
    }
    cols
}

fn reasons_text(day: &UnitDay, no_signal_counts: bool) -> String {
    let parts: Vec<String> = OutReason::ALL
        .iter()
        .filter(|r| day.out_ms_of(**r) > 0)
        .map(|r| {
            let note = if *r == OutReason::NoSignal && no_signal_counts {
                " (não conta)"
            } else {
                ""
            };
            format!("{} {}{note}", r.label_pt(), pt::minutes(day.out_ms_of(*r)))
        })
        .collect();
    if parts.is_empty() {
        "—".to_owned()
    } else {
        parts.join("; ")
    }
}

fn header_section(l: &mut Layout, report: &MonthlyReport) {
    l.paragraph("Relatório de acompanhamento — SAMU 192", 17.0, true, 0.0);
    l.gap(2.0);
    l.paragraph(
        &format!(
            "{} · código IBGE {} · {}",
            report.central.name,
            report.central.id,
            pt::month(report.month())
        ),
        12.5,
        true,
        0.0,
    );
    l.gap(2.0);
    l.paragraph(
        &format!(
            "Indicadores da Resolução SES/MG nº 6.953/2019, Anexo I. Datas e horários no fuso {}. Gerado em {}.",
            report.time_zone().name(),
            pt::date_time(report.generated_at, report.time_zone())
        ),
        BODY,
        false,
        0.0,
    );
}

fn rules_section(l: &mut Layout, report: &MonthlyReport) {
    let s = &report.settings;
    l.heading("1. Central, regras e parâmetros em vigor");
    let rule = s.operation_rule;
    let mut rows: Vec<(String, String)> = vec![
        ("Central".into(), format!("{} (IBGE {})", report.central.name, report.central.id)),
        ("População coberta".into(), pt::number(report.central.population as f64, 0)),
        ("Mês".into(), pt::month(report.month())),
        (
            "Dias do mês".into(),
            report.indicators.days_in_month.to_string(),
        ),
        (
            "Unidade em funcionamento no dia".into(),
            format!(
                "disponível ou em atendimento, com equipe completa, e no máximo {} min fora de operação no dia; minutos sem sinal {}.",
                rule.max_minutes_out,
                if rule.no_signal_counts_as_operating {
                    "contam como em operação (falha de rastreamento, não de serviço)"
                } else {
                    "contam como fora de operação"
                }
            ),
        ),
        (
            "Unidades habilitadas".into(),
            "contam só nos dias em que estiveram habilitadas o dia inteiro (habilitada durante o dia: conta a partir do dia seguinte; desabilitada durante o dia: esse dia não conta).".into(),
        ),
        (
            "Pesos".into(),
            format!(
                "USB {} % · USA {} % · equipe mínima {} %",
                pt::number(s.weights.usb, 0),
                pt::number(s.weights.usa, 0),
                pt::number(s.weights.team, 0)
            ),
        ),
        ("Regra do incentivo".into(), pt::incentive_rule(&s.incentive_rule)),
        (
            "Valor programado para o mês".into(),
            pt::brl(report.indicators.programmed_amount),
        ),
    ];
    rows.push((
        "Profissionais alcançáveis".into(),
        "não contam para a equipe mínima (Anexo I); só os presentes.".into(),
    ));
    l.key_values(&rows, 150.0);

    l.subheading("Equipe mínima da central por turno");
    let team = &s.minimum_team;
    let day_span = format!(
        "Diurno ({}–{})",
        team.day_shift_start.format("%H:%M"),
        team.night_shift_start.format("%H:%M")
    );
    let night_span = format!(
        "Noturno ({}–{})",
        team.night_shift_start.format("%H:%M"),
        team.day_shift_start.format("%H:%M")
    );
    let cols = vec![
        col("Função", 200.0, Align::Left),
        col(&day_span, 120.0, Align::Right),
        col(&night_span, 120.0, Align::Right),
    ];
    let rows: Vec<Row> = StaffRole::ALL
        .iter()
        .map(|&role| Row {
            cells: vec![
                role.label_pt().to_owned(),
                team.required(Shift::Day, role).to_string(),
                team.required(Shift::Night, role).to_string(),
            ],
            fill: None,
        })
        .collect();
    l.table(&cols, &rows, BODY);
}

fn indicators_section(l: &mut Layout, report: &MonthlyReport) {
    let m = &report.indicators;
    let s = &report.settings;
    l.heading("2. Indicadores do mês");
    let cols = fit(vec![
        col("Indicador", 150.0, Align::Left),
        col("Fórmula", 170.0, Align::Left),
        col("Cálculo", 80.0, Align::Right),
        col("Resultado", 62.0, Align::Right),
        col("Peso", 40.0, Align::Right),
    ]);
    let rows: Vec<Row> = m
        .indicators()
        .iter()
        .map(|i| Row {
            cells: vec![
                numbered_label(i.kind),
                formula(i.kind).to_owned(),
                format!("{} ÷ {} × 100", i.numerator, i.denominator),
                pt::percent(i.percent()),
                format!("{} %", pt::number(i.kind.weight(&s.weights), 0)),
            ],
            fill: None,
        })
        .collect();
    l.table(&cols, &rows, BODY);

    let applicable: Vec<String> = m
        .indicators()
        .iter()
        .filter_map(|i| {
            i.percent().map(|p| {
                format!(
                    "{} × {}",
                    pt::number(i.kind.weight(&s.weights), 0),
                    pt::number(p, 2)
                )
            })
        })
        .collect();
    let weight_sum: f64 = m
        .indicators()
        .iter()
        .filter(|i| i.percent().is_some())
        .map(|i| i.kind.weight(&s.weights))
        .sum();
    let score_line = match m.score {
        Some(score) => format!(
            "({}) ÷ {} = {}",
            applicable.join(" + "),
            pt::number(weight_sum, 0),
            pt::percent(Some(score))
        ),
        None => "não se aplica".to_owned(),
    };
    let incentive_line = match (&s.incentive_rule, m.score) {
        (_, None) => format!("{} (sem pontuação)", pt::brl(m.incentive_due)),
        (IncentiveRule::Proportional, Some(score)) => format!(
            "{} × {} = {}",
            pt::brl(m.programmed_amount),
            pt::percent(Some(score)),
            pt::brl(m.incentive_due)
        ),
        (rule, Some(score)) => format!(
            "{} × {} (faixa da pontuação) = {}",
            pt::brl(m.programmed_amount),
            pt::percent(Some(rule.share_percent(score))),
            pt::brl(m.incentive_due)
        ),
    };
    let mut rows = vec![
        ("Pontuação ponderada".to_owned(), score_line),
        ("Incentivo devido no mês".to_owned(), incentive_line),
    ];
    if m.indicators().iter().any(|i| i.percent().is_none()) {
        rows.push((
            "Indicador não aplicável".to_owned(),
            "sem unidade habilitada do tipo no mês: fica fora da pontuação, e os pesos dos demais são reescalados.".to_owned(),
        ));
    }
    l.gap(2.0);
    l.key_values(&rows, 150.0);
    l.gap(2.0);
    l.paragraph(
        "O valor anual a repassar segue o Anexo I: para cada indicador, a soma dos percentuais dos 12 meses do ano dividida por 12; o valor do mês acima é a parcela deste mês.",
        SMALL,
        false,
        0.0,
    );
}

fn unit_days_section(l: &mut Layout, report: &MonthlyReport) {
    let m = &report.indicators;
    l.heading("3. Unidades-dia");
    if m.unit_days.is_empty() {
        l.paragraph("Nenhuma USB ou USA habilitada no mês.", BODY, false, 0.0);
        return;
    }
    // Per-unit summary first: what a manager looks at before the detail.
    let mut units: Vec<(String, String, u32, u32, i64)> = Vec::new();
    for d in &m.unit_days {
        match units.last_mut() {
            Some(u) if u.0 == d.unit.as_str() => {
                u.2 += 1;
                u.3 += u32::from(d.in_operation);
                u.4 += d.counted_out_ms;
            }
            _ => units.push((
                d.unit.to_string(),
                d.unit_type.code().to_owned(),
                1,
                u32::from(d.in_operation),
                d.counted_out_ms,
            )),
        }
    }
    l.subheading("Resumo por unidade");
    let cols = fit(vec![
        col("Unidade", 110.0, Align::Left),
        col("Tipo", 50.0, Align::Left),
        col("Dias habilitada", 80.0, Align::Right),
        col("Dias em funcionamento", 100.0, Align::Right),
        col("Percentual", 80.0, Align::Right),
        col("Minutos fora (regra)", 100.0, Align::Right),
    ]);
    let rows: Vec<Row> = units
        .iter()
        .map(|u| Row {
            cells: vec![
                u.0.clone(),
                u.1.clone(),
                u.2.to_string(),
                u.3.to_string(),
                pt::percent(Some(f64::from(u.3) * 100.0 / f64::from(u.2))),
                pt::minutes(u.4),
            ],
            fill: (u.3 < u.2).then_some(ALERT_FILL),
        })
        .collect();
    l.table(&cols, &rows, BODY);

    l.subheading("Dia a dia");
    l.paragraph(
        "Minutos de cada unidade em cada dia; em destaque, os dias que não contam como em funcionamento.",
        SMALL,
        false,
        0.0,
    );
    let no_signal_counts = report.settings.operation_rule.no_signal_counts_as_operating;
    let cols = fit(vec![
        col("Unidade", 62.0, Align::Left),
        col("Tipo", 30.0, Align::Left),
        col("Data", 54.0, Align::Left),
        col("Em operação (min)", 58.0, Align::Right),
        col("Fora, pela regra (min)", 58.0, Align::Right),
        col("Motivos (min)", 178.0, Align::Left),
        col("Em funcionamento", 70.0, Align::Left),
    ]);
    let rows: Vec<Row> = m
        .unit_days
        .iter()
        .map(|d| Row {
            cells: vec![
                d.unit.to_string(),
                d.unit_type.code().to_owned(),
                pt::date(d.date),
                pt::minutes(d.in_operation_ms),
                pt::minutes(d.counted_out_ms),
                reasons_text(d, no_signal_counts),
                pt::yes_no(d.in_operation).to_owned(),
            ],
            fill: (!d.in_operation).then_some(ALERT_FILL),
        })
        .collect();
    l.table(&cols, &rows, SMALL);
}

fn team_section(l: &mut Layout, report: &MonthlyReport) {
    let m = &report.indicators;
    let tz = report.time_zone();
    l.heading("4. Equipe mínima da central de regulação");
    l.paragraph(
        &format!(
            "Dias cobertos com, pelo menos, a equipe mínima: {} de {}.",
            m.team.numerator, m.team.denominator
        ),
        BODY,
        false,
        0.0,
    );
    let uncovered: Vec<_> = m.uncovered_days().collect();
    let missing = m.days_in_month as usize - m.team_days.len();
    if missing > 0 {
        l.paragraph(
            &format!("{missing} dia(s) do mês sem registro de presença contam como não cobertos."),
            BODY,
            false,
            0.0,
        );
    }
    if uncovered.is_empty() {
        l.paragraph(
            "Todos os dias registrados tiveram a equipe mínima presente 24 horas.",
            BODY,
            false,
            0.0,
        );
        return;
    }
    l.subheading("Dias sem a equipe mínima e seus períodos descobertos");
    let cols = fit(vec![
        col("Data", 60.0, Align::Left),
        col("Início", 45.0, Align::Left),
        col("Fim", 45.0, Align::Left),
        col("Função", 100.0, Align::Left),
        col("Turno", 55.0, Align::Left),
        col("Presentes / exigidos", 80.0, Align::Right),
        col("Duração (min)", 60.0, Align::Right),
        col("Minutos descobertos no dia", 80.0, Align::Right),
    ]);
    let mut rows = Vec::new();
    for d in uncovered {
        for (k, g) in d.gaps.iter().enumerate() {
            let end = if g.end.with_timezone(&tz).date_naive() > d.date {
                "24:00".to_owned()
            } else {
                pt::time(g.end, tz)
            };
            rows.push(Row {
                cells: vec![
                    if k == 0 {
                        pt::date(d.date)
                    } else {
                        String::new()
                    },
                    pt::time(g.start, tz),
                    end,
                    g.role.label_pt().to_owned(),
                    g.shift.label_pt().to_owned(),
                    format!("{} / {}", g.present, g.required),
                    pt::minutes(g.length_ms()),
                    if k == 0 {
                        pt::minutes(d.short_ms)
                    } else {
                        String::new()
                    },
                ],
                fill: None,
            });
        }
    }
    l.table(&cols, &rows, BODY);
}

fn response_section(l: &mut Layout, report: &MonthlyReport) {
    l.heading("5. Tempos-resposta por prioridade");
    if report.response_times.is_empty() {
        l.paragraph("sem dados", BODY, false, 0.0);
        return;
    }
    l.paragraph(
        "Média e 90º percentil (posto mais próximo), em minutos:segundos.",
        SMALL,
        false,
        0.0,
    );
    let cols = fit(vec![
        col("Prioridade", 80.0, Align::Left),
        col("Intervalo", 160.0, Align::Left),
        col("Ocorrências", 70.0, Align::Right),
        col("Média", 70.0, Align::Right),
        col("90º percentil", 80.0, Align::Right),
    ]);
    let mut rows = Vec::new();
    for r in &report.response_times {
        for interval in ResponseInterval::ALL {
            let fig = r.figure(interval);
            rows.push(Row {
                cells: vec![
                    r.priority.clone(),
                    interval.label_pt().to_owned(),
                    fig.map_or_else(|| "0".to_owned(), |f| pt::number(f.count as f64, 0)),
                    fig.map_or_else(|| "sem dados".to_owned(), |f| pt::duration(f.mean_s)),
                    fig.map_or_else(|| "sem dados".to_owned(), |f| pt::duration(f.p90_s)),
                ],
                fill: None,
            });
        }
    }
    l.table(&cols, &rows, BODY);
}

/// Renders the report as a PDF document.
///
/// # Errors
/// When the embedded font cannot be read or krilla cannot write the document.
pub fn render_pdf(report: &MonthlyReport) -> Result<Vec<u8>, ReportError> {
    let mut l = Layout::new(Measure::new()?);
    header_section(&mut l, report);
    rules_section(&mut l, report);
    indicators_section(&mut l, report);
    unit_days_section(&mut l, report);
    team_section(&mut l, report);
    response_section(&mut l, report);

    let font = |data: &'static [u8]| {
        Font::new(data.into(), 0)
            .ok_or_else(|| ReportError::Pdf("the embedded font cannot be read".into()))
    };
    let regular = font(REGULAR)?;
    let bold = font(BOLD)?;
    let footer_left = format!(
        "{} · relatório de acompanhamento · {}",
        report.central.name,
        pt::month(report.month())
    );
    let total = l.pages.len();
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!(
                "Relatório de acompanhamento — {} — {}",
                report.central.name,
                pt::month(report.month())
            ))
            .language("pt-BR".to_owned())
            .creator("samu-central".to_owned()),
    );
    let black = Fill::default();
    for (n, ops) in l.pages.iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
            .ok_or_else(|| ReportError::Pdf("bad page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let footer = format!("página {} de {}", n + 1, total);
        let footer_w = l.measure.width(&footer, SMALL, false);
        let footer_ops = [
            Op::Rect {
                x: MARGIN_X,
                y: PAGE_H - 34.0,
                w: CONTENT_W,
                h: 0.5,
                rgb: RULE_GRAY,
            },
            Op::Text {
                x: MARGIN_X,
                y: PAGE_H - 24.0,
                size: SMALL,
                bold: false,
                text: footer_left.clone(),
            },
            Op::Text {
                x: PAGE_W - MARGIN_X - footer_w,
                y: PAGE_H - 24.0,
                size: SMALL,
                bold: false,
                text: footer,
            },
        ];
        for op in ops.iter().chain(&footer_ops) {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    bold: is_bold,
                    text,
                } => {
                    if text.is_empty() {
                        continue;
                    }
                    surface.set_fill(Some(black.clone()));
                    let f = if *is_bold {
                        bold.clone()
                    } else {
                        regular.clone()
                    };
                    surface.draw_text(
                        Point::from_xy(*x, *y),
                        f,
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::Rect { x, y, w, h, rgb: c } => {
                    let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                        continue;
                    };
                    let mut pb = PathBuilder::new();
                    pb.push_rect(rect);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(Some(Fill {
                            paint: rgb::Color::new(c.0, c.1, c.2).into(),
                            opacity: NormalizedF32::ONE,
                            rule: Default::default(),
                        }));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| ReportError::Pdf(format!("{e:?}")))
}
