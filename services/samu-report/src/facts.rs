//! The report's header facts (central, settings in force, results) as one
//! list, so the three renderers print the same things under the same keys.

use samu_indicators::{Brl, OutReason, Shift, StaffRole};

use crate::{pt, MonthlyReport};

/// A value as it is stored: numbers stay numbers in the CSV and the XLSX.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(String),
    Number(f64),
    Money(Brl),
}

/// One fact: a stable key for scripts, a Portuguese label for people.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fact {
    pub key: String,
    pub label: String,
    pub value: Value,
}

fn fact(key: impl Into<String>, label: impl Into<String>, value: Value) -> Fact {
    Fact {
        key: key.into(),
        label: label.into(),
        value,
    }
}

/// The CSV key of a staff role.
pub(crate) fn role_key(role: StaffRole) -> &'static str {
    match role {
        StaffRole::Physician => "medico_regulador",
        StaffRole::Tarm => "tarm",
        StaffRole::RadioOperator => "radio_operador",
    }
}

/// The CSV key of a shift.
pub(crate) fn shift_key(shift: Shift) -> &'static str {
    match shift {
        Shift::Day => "diurno",
        Shift::Night => "noturno",
    }
}

/// The CSV column of the minutes out for a reason.
pub(crate) fn reason_column(reason: OutReason) -> &'static str {
    use samu_domain::OutOfServiceReason as R;
    match reason {
        OutReason::OutOfService(R::Maintenance) => "min_fora_servico_manutencao",
        OutReason::OutOfService(R::NoCrew) => "min_fora_servico_sem_equipe",
        OutReason::OutOfService(R::IncompleteCrew) => "min_fora_servico_equipe_incompleta",
        OutReason::OutOfService(R::Equipment) => "min_fora_servico_equipamento",
        OutReason::OutOfService(R::Cleaning) => "min_fora_servico_limpeza",
        OutReason::OutOfService(R::Other) => "min_fora_servico_outro",
        OutReason::IncompleteCrew => "min_equipe_incompleta",
        OutReason::NoSignal => "min_sem_sinal",
        OutReason::NoData => "min_sem_dados",
    }
}

/// The central and the month.
pub(crate) fn central(report: &MonthlyReport) -> Vec<Fact> {
    let c = &report.central;
    vec![
        fact("codigo_ibge", "Código IBGE", Value::Text(c.id.to_string())),
        fact("nome", "Central", Value::Text(c.name.clone())),
        fact(
            "populacao",
            "População coberta",
            Value::Number(c.population as f64),
        ),
        fact(
            "fuso_horario",
            "Fuso horário",
            Value::Text(report.time_zone().name().to_owned()),
        ),
        fact(
            "mes",
            "Mês",
            Value::Text(format!(
                "{:02}/{}",
                report.month().month(),
                report.month().year()
            )),
        ),
        fact(
            "gerado_em",
            "Gerado em",
            Value::Text(pt::date_time(report.generated_at, report.time_zone())),
        ),
    ]
}

/// The rules and settings in force.
pub(crate) fn rules(report: &MonthlyReport) -> Vec<Fact> {
    let s = &report.settings;
    let rule = s.operation_rule;
    let team = &s.minimum_team;
    let mut facts =
        vec![
        fact(
            "max_minutos_fora",
            "Regra de funcionamento: máximo de minutos fora de operação num dia em funcionamento",
            Value::Number(f64::from(rule.max_minutes_out)),
        ),
        fact(
            "sem_sinal_conta_como_operacao",
            "Minutos sem sinal contam como em operação",
            Value::Text(pt::yes_no(rule.no_signal_counts_as_operating).to_owned()),
        ),
        fact("peso_usb", "Peso do indicador 1 (USB) (%)", Value::Number(s.weights.usb)),
        fact("peso_usa", "Peso do indicador 2 (USA) (%)", Value::Number(s.weights.usa)),
        fact(
            "peso_equipe",
            "Peso do indicador 3 (equipe mínima) (%)",
            Value::Number(s.weights.team),
        ),
        fact(
            "turno_diurno_inicio",
            "Início do turno diurno",
            Value::Text(team.day_shift_start.format("%H:%M").to_string()),
        ),
        fact(
            "turno_noturno_inicio",
            "Início do turno noturno",
            Value::Text(team.night_shift_start.format("%H:%M").to_string()),
        ),
    ];
    for shift in [Shift::Day, Shift::Night] {
        for role in StaffRole::ALL {
            facts.push(fact(
                format!("equipe_minima_{}_{}", shift_key(shift), role_key(role)),
                format!(
                    "Equipe mínima, turno {}: {}",
                    shift.label_pt(),
                    role.label_pt()
                ),
                Value::Number(f64::from(team.required(shift, role))),
            ));
        }
    }
    facts.push(fact(
        "regra_incentivo",
        "Regra do incentivo",
        Value::Text(pt::incentive_rule(&s.incentive_rule)),
    ));
    facts.push(fact(
        "valor_programado",
        "Valor programado para o mês",
        Value::Money(report.indicators.programmed_amount),
    ));
    facts
}

/// The month's results beyond the three indicators.
pub(crate) fn results(report: &MonthlyReport) -> Vec<Fact> {
    let m = &report.indicators;
    vec![
        fact(
            "pontuacao_ponderada",
            "Pontuação ponderada (%)",
            m.score
                .map_or_else(|| Value::Text("não se aplica".to_owned()), Value::Number),
        ),
        fact(
            "incentivo_devido",
            "Incentivo devido no mês",
            Value::Money(m.incentive_due),
        ),
    ]
}
