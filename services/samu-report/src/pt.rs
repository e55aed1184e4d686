//! Portuguese (pt-BR) text for people: dd/mm/aaaa, decimal comma, R$ 1.234,56,
//! and the machine forms the CSV uses (decimal comma, full precision).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use samu_indicators::{Brl, IncentiveRule, YearMonth};

/// `23/11/2026`.
pub fn date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// The local date and time of `at` in `tz`: `23/11/2026 07:20:00`.
pub fn date_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%d/%m/%Y %H:%M:%S")
        .to_string()
}

/// The local time of `at`: `07:20`, or `07:20:15` when it has seconds.
pub fn time(at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    if chrono::Timelike::second(&local) == 0 {
        local.format("%H:%M").to_string()
    } else {
        local.format("%H:%M:%S").to_string()
    }
}

const MONTHS: [&str; 12] = [
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
];

/// `novembro de 2026`.
pub fn month(m: YearMonth) -> String {
    format!("{} de {}", MONTHS[m.month() as usize - 1], m.year())
}

/// `1.234,57` with `places` decimals and a dot between thousands.
pub fn number(value: f64, places: usize) -> String {
    let text = format!("{:.*}", places, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    let negative = value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0');
    let sign = if negative { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped},{frac}")
    }
}

/// `96,77 %`, or `não se aplica`.
pub fn percent(value: Option<f64>) -> String {
    value.map_or_else(
        || "não se aplica".to_owned(),
        |v| format!("{} %", number(v, 2)),
    )
}

/// `R$ 1.234,56`.
pub fn brl(value: Brl) -> String {
    let text = number(value.reais(), 2);
    match text.strip_prefix('-') {
        Some(rest) => format!("-R$ {rest}"),
        None => format!("R$ {text}"),
    }
}

/// Minutes for people: whole minutes without decimals (`1.440`), others
/// with two (`1.439,25`, `0,75`).
pub fn minutes(ms: i64) -> String {
    let m = samu_indicators::unit_day::minutes(ms);
    if ms % samu_indicators::unit_day::MS_PER_MINUTE == 0 {
        number(m, 0)
    } else {
        number(m, 2)
    }
}

/// A duration in seconds as `m:ss` (`12:05`), or `h:mm:ss` past an hour.
pub fn duration(seconds: f64) -> String {
    let total = seconds.round() as i64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `sim` or `não`.
pub fn yes_no(value: bool) -> &'static str {
    if value {
        "sim"
    } else {
        "não"
    }
}

/// The incentive rule in words.
pub fn incentive_rule(rule: &IncentiveRule) -> String {
    match rule {
        IncentiveRule::Proportional => {
            "proporcional: valor programado × pontuação ponderada ÷ 100".to_owned()
        }
        IncentiveRule::Bands { bands } => {
            let bands: Vec<String> = bands
                .iter()
                .map(|b| {
                    format!(
                        "a partir de {} → {}",
                        percent(Some(b.min_score)),
                        percent(Some(b.share_percent))
                    )
                })
                .collect();
            format!(
                "por faixas da pontuação ({}); abaixo da primeira faixa, nada",
                bands.join("; ")
            )
        }
    }
}

/// A number for the CSV: full precision (the shortest text that reads back
/// to the same `f64`), decimal comma, no thousands separator.
pub fn csv_number(value: f64) -> String {
    value.to_string().replace('.', ",")
}

/// An amount for the CSV: `23152,00`.
pub fn csv_brl(value: Brl) -> String {
    let c = value.centavos();
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{},{:02}", c.abs() / 100, c.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_brazil() {
        assert_eq!(number(1234.567, 2), "1.234,57");
        assert_eq!(number(96.774193, 2), "96,77");
        assert_eq!(number(1_000_000.0, 0), "1.000.000");
        assert_eq!(number(-0.001, 2), "0,00");
        assert_eq!(number(-1234.5, 1), "-1.234,5");
        assert_eq!(percent(Some(96.774193)), "96,77 %");
        assert_eq!(percent(None), "não se aplica");
        assert_eq!(brl(Brl(123_456)), "R$ 1.234,56");
        assert_eq!(brl(Brl(2_201_369)), "R$ 22.013,69");
        assert_eq!(brl(Brl(-5)), "-R$ 0,05");
        assert_eq!(csv_brl(Brl(2_315_200)), "23152,00");
        assert_eq!(csv_brl(Brl(-5)), "-0,05");
        assert_eq!(csv_number(96.5), "96,5");
        assert_eq!(csv_number(1440.0), "1440");
        assert_eq!(minutes(81_000_000), "1.350");
        assert_eq!(minutes(86_355_000), "1.439,25");
        assert_eq!(minutes(45_000), "0,75");
        assert_eq!(minutes(0), "0");
        assert_eq!(duration(65.4), "1:05");
        assert_eq!(duration(3725.0), "1:02:05");
    }

    #[test]
    fn dates_and_months() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        assert_eq!(date(d), "07/03/2026");
        assert_eq!(month(YearMonth::parse("2026-03").unwrap()), "março de 2026");
        let at: DateTime<Utc> = "2026-11-23T10:20:00Z".parse().unwrap();
        assert_eq!(time(at, chrono_tz::America::Sao_Paulo), "07:20");
        assert_eq!(
            date_time(at, chrono_tz::America::Sao_Paulo),
            "23/11/2026 07:20:00"
        );
    }
}
