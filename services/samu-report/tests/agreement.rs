//! The three formats agree on every number: the demo report is rendered, the
//! CSV and the XLSX are read back and every indicator, unit-day, team day,
//! gap and response time is compared with the struct; the PDF is checked for
//! its structure and, where `pdftotext` is installed, for its text.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use samu_indicators::unit_day::minutes;
use samu_indicators::{IndicatorKind, OutReason, Shift, StaffRole};
use samu_report::sample::demo_report;
use samu_report::xlsx::{GAPS_TITLE, SHEETS};
use samu_report::{
    pt, render_csv, render_pdf, render_xlsx, MonthlyReport, ResponseInterval, CSV_COLUMNS,
};

// ---- CSV ----------------------------------------------------------------

type CsvRow = HashMap<String, String>;

fn read_csv(bytes: &[u8]) -> Vec<CsvRow> {
    let body = bytes
        .strip_prefix("\u{feff}".as_bytes())
        .expect("UTF-8 BOM");
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(body);
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers, CSV_COLUMNS);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.len(), CSV_COLUMNS.len());
            headers
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

fn num(text: &str) -> f64 {
    assert!(!text.contains('.'), "decimal comma expected in {text:?}");
    text.replace(',', ".")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

fn centavos(text: &str) -> i64 {
    let (reais, cents) = text.split_once(',').expect("two decimals");
    assert_eq!(cents.len(), 2);
    reais.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

fn section<'a>(rows: &'a [CsvRow], name: &str) -> Vec<&'a CsvRow> {
    rows.iter().filter(|r| r["secao"] == name).collect()
}

fn role_key(role: StaffRole) -> &'static str {
    match role {
        StaffRole::Physician => "medico_regulador",
        StaffRole::Tarm => "tarm",
        StaffRole::RadioOperator => "radio_operador",
    }
}

fn shift_key(shift: Shift) -> &'static str {
    match shift {
        Shift::Day => "diurno",
        Shift::Night => "noturno",
    }
}

fn reason_column(reason: OutReason) -> String {
    let code = reason.as_str().replace("out_of_service:", "fora_servico_");
    let pt = code
        .replace("maintenance", "manutencao")
        .replace("no_crew", "sem_equipe")
        .replace(
            "fora_servico_incomplete_crew",
            "fora_servico_equipe_incompleta",
        )
        .replace("equipment", "equipamento")
        .replace("cleaning", "limpeza")
        .replace("other", "outro")
        .replace("incomplete_crew", "equipe_incompleta")
        .replace("no_signal", "sem_sinal")
        .replace("no_data", "sem_dados");
    format!("min_{pt}")
}

fn check_csv(report: &MonthlyReport, rows: &[CsvRow]) {
    let m = &report.indicators;
    let tz = report.time_zone();

    let indicators = section(rows, "indicador");
    assert_eq!(indicators.len(), 3);
    for (row, i) in indicators.iter().zip(m.indicators()) {
        assert_eq!(row["chave"], i.kind.as_str());
        assert_eq!(row["numerador"].parse::<u64>().unwrap(), i.numerator);
        assert_eq!(row["denominador"].parse::<u64>().unwrap(), i.denominator);
        match i.percent() {
            Some(p) => assert_eq!(num(&row["percentual"]), p),
            None => assert_eq!(row["percentual"], ""),
        }
    }
    let results = section(rows, "resultado");
    let by_key = |list: &[&CsvRow], key: &str| -> CsvRow {
        (*list.iter().find(|r| r["chave"] == key).unwrap()).clone()
    };
    assert_eq!(
        num(&by_key(&results, "pontuacao_ponderada")["valor"]),
        m.score.unwrap()
    );
    assert_eq!(
        centavos(&by_key(&results, "incentivo_devido")["valor"]),
        m.incentive_due.centavos()
    );
    let rules = section(rows, "regra");
    assert_eq!(
        centavos(&by_key(&rules, "valor_programado")["valor"]),
        m.programmed_amount.centavos()
    );
    assert_eq!(
        num(&by_key(&rules, "max_minutos_fora")["valor"]),
        f64::from(report.settings.operation_rule.max_minutes_out)
    );
    assert_eq!(
        num(&by_key(&rules, "peso_usb")["valor"]),
        report.settings.weights.usb
    );
    assert_eq!(
        num(&by_key(&rules, "equipe_minima_diurno_tarm")["valor"]),
        f64::from(report.settings.minimum_team.day.tarm)
    );
    let central = section(rows, "central");
    assert_eq!(
        by_key(&central, "codigo_ibge")["texto"],
        report.central.id.as_str()
    );

    let unit_days = section(rows, "unidade_dia");
    assert_eq!(unit_days.len(), m.unit_days.len());
    for (row, d) in unit_days.iter().zip(&m.unit_days) {
        assert_eq!(row["chave"], d.unit.as_str());
        assert_eq!(row["tipo"], d.unit_type.code());
        assert_eq!(row["data"], pt::date(d.date));
        assert_eq!(row["em_operacao"], pt::yes_no(d.in_operation));
        assert_eq!(num(&row["min_em_operacao"]), minutes(d.in_operation_ms));
        assert_eq!(num(&row["min_fora_contados"]), minutes(d.counted_out_ms));
        for reason in OutReason::ALL {
            assert_eq!(
                num(&row[&reason_column(reason)]),
                minutes(d.out_ms_of(reason)),
                "{} {} {reason}",
                d.unit,
                d.date
            );
        }
    }

    let team_days = section(rows, "equipe_dia");
    assert_eq!(team_days.len(), m.team_days.len());
    for (row, d) in team_days.iter().zip(&m.team_days) {
        assert_eq!(row["data"], pt::date(d.date));
        assert_eq!(row["coberto"], pt::yes_no(d.covered));
        assert_eq!(num(&row["min_descobertos"]), minutes(d.short_ms));
        assert_eq!(row["quantidade"].parse::<usize>().unwrap(), d.gaps.len());
    }
    let gaps = section(rows, "equipe_lacuna");
    let expected: Vec<_> = m
        .team_days
        .iter()
        .flat_map(|d| d.gaps.iter().map(move |g| (d, g)))
        .collect();
    assert_eq!(gaps.len(), expected.len());
    for (row, (d, g)) in gaps.iter().zip(expected) {
        assert_eq!(row["data"], pt::date(d.date));
        assert_eq!(row["chave"], role_key(g.role));
        assert_eq!(row["tipo"], shift_key(g.shift));
        assert_eq!(row["inicio"], pt::date_time(g.start, tz));
        assert_eq!(row["fim"], pt::date_time(g.end, tz));
        assert_eq!(row["presentes"].parse::<u32>().unwrap(), g.present);
        assert_eq!(row["exigidos"].parse::<u32>().unwrap(), g.required);
        assert_eq!(num(&row["min_descobertos"]), minutes(g.length_ms()));
    }

    let times = section(rows, "tempo_resposta");
    if report.response_times.is_empty() {
        assert_eq!(times.len(), 1);
        assert_eq!(times[0]["texto"], "sem dados");
    } else {
        assert_eq!(times.len(), report.response_times.len() * 4);
        let expected = report
            .response_times
            .iter()
            .flat_map(|r| ResponseInterval::ALL.map(|i| (r, i)));
        for (row, (r, interval)) in times.iter().zip(expected) {
            assert_eq!(row["chave"], r.priority);
            assert_eq!(row["tipo"], interval.as_str());
            let f = r.figure(interval).unwrap();
            assert_eq!(row["quantidade"].parse::<u64>().unwrap(), f.count);
            assert_eq!(num(&row["media_s"]), f.mean_s);
            assert_eq!(num(&row["p90_s"]), f.p90_s);
        }
    }
}

// ---- XLSX ---------------------------------------------------------------

fn f(cell: Option<&Data>) -> f64 {
    match cell {
        Some(Data::Float(x)) => *x,
        Some(Data::Int(x)) => *x as f64,
        Some(Data::DateTime(d)) => d.as_f64(),
        other => panic!("not a number: {other:?}"),
    }
}

fn s(cell: Option<&Data>) -> String {
    match cell {
        Some(Data::String(x)) => x.clone(),
        other => panic!("not text: {other:?}"),
    }
}

fn date(cell: Option<&Data>) -> chrono::NaiveDateTime {
    match cell {
        Some(Data::DateTime(d)) => d.as_datetime().unwrap(),
        other => panic!("not a date: {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn check_xlsx(report: &MonthlyReport, bytes: Vec<u8>) {
    let m = &report.indicators;
    let tz = report.time_zone();
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    assert_eq!(wb.sheet_names(), SHEETS);

    let sheet = wb.worksheet_range(SHEETS[0]).unwrap();
    let find = |label: &str| -> u32 {
        (0..sheet.height() as u32)
            .find(|&r| matches!(sheet.get_value((r, 0)), Some(Data::String(t)) if t == label))
            .unwrap_or_else(|| panic!("no row {label:?}"))
    };
    for (n, i) in m.indicators().iter().enumerate() {
        let r = find(&format!("({}) {}", n + 1, i.kind.label_pt()));
        assert_eq!(f(sheet.get_value((r, 1))), i.numerator as f64);
        assert_eq!(f(sheet.get_value((r, 2))), i.denominator as f64);
        match i.percent() {
            Some(p) => assert!(close(f(sheet.get_value((r, 3))), p)),
            None => assert_eq!(s(sheet.get_value((r, 3))), "não se aplica"),
        }
        assert_eq!(
            f(sheet.get_value((r, 4))),
            i.kind.weight(&report.settings.weights)
        );
    }
    let r = find("Pontuação ponderada (%)");
    assert!(close(f(sheet.get_value((r, 1))), m.score.unwrap()));
    let r = find("Incentivo devido no mês");
    assert!(close(f(sheet.get_value((r, 1))), m.incentive_due.reais()));
    let r = find("Valor programado para o mês");
    assert!(close(
        f(sheet.get_value((r, 1))),
        m.programmed_amount.reais()
    ));
    let r = find("Código IBGE");
    assert_eq!(s(sheet.get_value((r, 1))), report.central.id.as_str());

    let sheet = wb.worksheet_range(SHEETS[1]).unwrap();
    assert_eq!(sheet.height(), m.unit_days.len() + 1);
    for (k, d) in m.unit_days.iter().enumerate() {
        let r = k as u32 + 1;
        assert_eq!(s(sheet.get_value((r, 0))), d.unit.as_str());
        assert_eq!(s(sheet.get_value((r, 1))), d.unit_type.code());
        assert_eq!(date(sheet.get_value((r, 2))).date(), d.date);
        assert!(close(
            f(sheet.get_value((r, 3))),
            minutes(d.in_operation_ms)
        ));
        assert!(close(f(sheet.get_value((r, 4))), minutes(d.counted_out_ms)));
        for (j, reason) in OutReason::ALL.iter().enumerate() {
            assert!(close(
                f(sheet.get_value((r, 5 + j as u32))),
                minutes(d.out_ms_of(*reason))
            ));
        }
        let flag = s(sheet.get_value((r, 5 + OutReason::ALL.len() as u32)));
        assert_eq!(flag, if d.in_operation { "Sim" } else { "Não" });
    }

    let sheet = wb.worksheet_range(SHEETS[2]).unwrap();
    for (k, d) in m.team_days.iter().enumerate() {
        let r = k as u32 + 1;
        assert_eq!(date(sheet.get_value((r, 0))).date(), d.date);
        assert_eq!(
            s(sheet.get_value((r, 1))),
            if d.covered { "Sim" } else { "Não" }
        );
        assert!(close(f(sheet.get_value((r, 2))), minutes(d.short_ms)));
        assert_eq!(f(sheet.get_value((r, 3))), d.gaps.len() as f64);
    }
    let title = (0..sheet.height() as u32)
        .find(|&r| matches!(sheet.get_value((r, 0)), Some(Data::String(t)) if t == GAPS_TITLE))
        .expect("gap table");
    let mut r = title + 2;
    let to_second = |t: chrono::NaiveDateTime| {
        t.and_utc().timestamp_millis().div_euclid(1000) * 1000
            + (t.and_utc().timestamp_subsec_millis() as i64 + 500) / 1000 * 1000
    };
    for d in &m.team_days {
        for g in &d.gaps {
            assert_eq!(date(sheet.get_value((r, 0))).date(), d.date);
            let start = g.start.with_timezone(&tz).naive_local();
            let end = g.end.with_timezone(&tz).naive_local();
            assert_eq!(to_second(date(sheet.get_value((r, 1)))), to_second(start));
            assert_eq!(to_second(date(sheet.get_value((r, 2)))), to_second(end));
            assert_eq!(s(sheet.get_value((r, 3))), g.role.label_pt());
            assert_eq!(s(sheet.get_value((r, 4))), g.shift.label_pt());
            assert_eq!(f(sheet.get_value((r, 5))), f64::from(g.present));
            assert_eq!(f(sheet.get_value((r, 6))), f64::from(g.required));
            assert!(close(f(sheet.get_value((r, 7))), minutes(g.length_ms())));
            r += 1;
        }
    }
    assert!(sheet.get_value((r, 0)).is_none_or(|c| *c == Data::Empty));

    let sheet = wb.worksheet_range(SHEETS[3]).unwrap();
    if report.response_times.is_empty() {
        assert_eq!(s(sheet.get_value((1, 0))), "sem dados");
    } else {
        let mut r = 1;
        for rt in &report.response_times {
            for interval in ResponseInterval::ALL {
                let fig = rt.figure(interval).unwrap();
                assert_eq!(s(sheet.get_value((r, 0))), rt.priority);
                assert_eq!(s(sheet.get_value((r, 1))), interval.label_pt());
                assert_eq!(f(sheet.get_value((r, 2))), fig.count as f64);
                assert!((f(sheet.get_value((r, 3))) * 86_400.0 - fig.mean_s).abs() < 1e-6);
                assert!((f(sheet.get_value((r, 4))) * 86_400.0 - fig.p90_s).abs() < 1e-6);
                r += 1;
            }
        }
    }
}

// ---- PDF ----------------------------------------------------------------

fn page_count(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    let at = text.find("/Count ").expect("a page tree");
    text[at + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The PDF's text through poppler's `pdftotext`, when installed.
fn pdf_text(pdf: &[u8]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("samu-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("r{}.pdf", pdf.len()));
    std::fs::write(&path, pdf).ok()?;
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&path);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check_pdf(report: &MonthlyReport, pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(32)..]).contains("%%EOF"));
    assert!(page_count(pdf) >= 2, "unit-day table spans pages");
    let Some(text) = pdf_text(pdf) else {
        eprintln!("pdftotext not installed: PDF text not checked");
        return;
    };
    let m = &report.indicators;
    for expected in [
        "Relatório de acompanhamento".to_owned(),
        report.central.name.clone(),
        pt::month(report.month()),
        pt::percent(m.usb.percent()),
        pt::percent(m.usa.percent()),
        pt::percent(m.team.percent()),
        pt::percent(m.score),
        pt::brl(m.incentive_due),
        pt::brl(m.programmed_amount),
        format!("{} ÷ {} × 100", m.usb.numerator, m.usb.denominator),
        "Equipe mínima da central por turno".to_owned(),
        "Dias sem a equipe mínima".to_owned(),
        "Tempos-resposta por prioridade".to_owned(),
        format!("página 1 de {}", page_count(pdf)),
    ] {
        assert!(text.contains(&expected), "PDF lacks {expected:?}");
    }
    for d in m.uncovered_days() {
        assert!(text.contains(&pt::date(d.date)));
    }
    if report.response_times.is_empty() {
        assert!(text.contains("sem dados"));
    }
}

#[test]
fn the_demo_report_is_what_the_fixture_says() {
    // The demo month (see `samu_report::sample`), by hand:
    // USB: USB-01 30/30, USB-02 27/30 (10–12/11), USB-03 13/14 (17–30/11,
    // 20/11 incomplete crew; 25/11 no signal counts) → 70/74.
    // USA: 27/30 (05 and 06/11 across midnight; 18/11, 45 s cleaning).
    // Team: 27/30 (08, 15, 23/11).
    let report = demo_report();
    let m = &report.indicators;
    assert_eq!((m.usb.numerator, m.usb.denominator), (70, 74));
    assert_eq!((m.usa.numerator, m.usa.denominator), (27, 30));
    let usa18 = m
        .unit_days
        .iter()
        .find(|d| d.unit.as_str() == "USA-01" && chrono::Datelike::day(&d.date) == 18)
        .unwrap();
    assert_eq!(usa18.counted_out_ms, 45_000);
    assert_eq!(minutes(usa18.in_operation_ms), 1439.25);
    assert_eq!((m.team.numerator, m.team.denominator), (27, 30));
    let uncovered: Vec<u32> = m
        .uncovered_days()
        .map(|d| chrono::Datelike::day(&d.date))
        .collect();
    assert_eq!(uncovered, [8, 15, 23]);
    assert_eq!(m.indicators()[0].kind, IndicatorKind::UsbInOperation);
}

#[test]
fn csv_xlsx_and_pdf_agree_with_the_report() {
    let report = demo_report();
    check_csv(&report, &read_csv(&render_csv(&report).unwrap()));
    check_xlsx(&report, render_xlsx(&report).unwrap());
    check_pdf(&report, &render_pdf(&report).unwrap());
}

#[test]
fn a_report_without_response_times_says_sem_dados() {
    let mut report = demo_report();
    report.response_times.clear();
    check_csv(&report, &read_csv(&render_csv(&report).unwrap()));
    check_xlsx(&report, render_xlsx(&report).unwrap());
    check_pdf(&report, &render_pdf(&report).unwrap());
}

#[test]
fn a_not_applicable_indicator_is_printed_as_such() {
    // Drop the USA: indicator 2 is not applicable; the score is recomputed
    // over USB and team only.
    let mut report = demo_report();
    let days = report
        .indicators
        .unit_days
        .iter()
        .filter(|d| d.unit_type != samu_domain::UnitType::Usa)
        .cloned()
        .collect();
    let team = report.indicators.team_days.clone();
    report.indicators = samu_indicators::MonthlyIndicators::from_days(
        &report.settings,
        report.indicators.month,
        days,
        team,
        report.indicators.programmed_amount,
    );
    assert_eq!(report.indicators.usa.percent(), None);
    let rows = read_csv(&render_csv(&report).unwrap());
    check_csv(&report, &rows);
    check_xlsx(&report, render_xlsx(&report).unwrap());
    let pdf = render_pdf(&report).unwrap();
    if let Some(text) = pdf_text(&pdf) {
        assert!(text.contains("não se aplica"));
    }
}

#[test]
fn the_committed_sample_files_are_current() {
    // `sample/` holds the demo month in the three formats for people to look
    // at. Rendering is deterministic (the XLSX and PDF carry the report's own
    // time), so they must equal a fresh rendering. To refresh them:
    // `cargo run -p samu-report --example sample` (and, for the picture,
    // `pdftoppm -r 100 -f 1 -l 1 -png -singlefile
    //  sample/relatorio-exemplo.pdf sample/relatorio-exemplo-p1`).
    let report = demo_report();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
    for format in [
        samu_report::Format::Csv,
        samu_report::Format::Xlsx,
        samu_report::Format::Pdf,
    ] {
        let path = dir.join(format!("relatorio-exemplo.{}", format.extension()));
        let committed = std::fs::read(&path).unwrap();
        let fresh = samu_report::render(&report, format).unwrap();
        assert!(
            committed == fresh,
            "{} is stale: run `cargo run -p samu-report --example sample`",
            path.display()
        );
    }
}
