//! From stored history to the state indicators: the daily job that stores
//! unit-days and team days, and the monthly report.
//!
//! Both compute from the raw history (status events, staff presence) with
//! `samu-indicators`, so a report and the stored days always agree, and
//! recomputing any period is idempotent.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use samu_domain::CentralId;
use samu_indicators::{
    team_days, unit_days, Brl, CentralSettings, LocalDay, MonthlyIndicators, Presence, UnitHistory,
    YearMonth,
};
use samu_report::{CentralInfo, MonthlyReport};
use samu_store::{CentralRow, Store, StoreError};
use tokio_util::sync::CancellationToken;

/// Why a report or a computation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportingError {
    /// No such central.
    #[error("central_id: unknown central {0}")]
    UnknownCentral(CentralId),
    /// Stored settings that no longer parse.
    #[error("the indicator settings of central {central} are invalid: {message}")]
    BadSettings {
        /// The central.
        central: CentralId,
        /// Why.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A central with the settings its indicators are computed under.
#[derive(Debug, Clone)]
pub struct CentralContext {
    /// The central.
    pub central: CentralRow,
    /// Settings in force.
    pub settings: CentralSettings,
    /// Monthly amount programmed for the central.
    pub programmed: Brl,
}

/// Loads a central and its settings: stored ones, or the defaults for its
/// population in its own time zone.
///
/// # Errors
/// Unknown central, invalid stored settings, or a store failure.
pub async fn context(store: &Store, id: &CentralId) -> Result<CentralContext, ReportingError> {
    let central = store
        .central(id)
        .await?
        .ok_or_else(|| ReportingError::UnknownCentral(id.clone()))?;
    let stored = store.central_settings(id).await?;
    let bad = |message: String| ReportingError::BadSettings {
        central: id.clone(),
        message,
    };
    let settings = match stored.as_ref().and_then(|s| s.settings.as_deref()) {
        Some(json) => {
            serde_json::from_str::<CentralSettings>(json).map_err(|e| bad(e.to_string()))?
        }
        None => {
            let mut defaults = CentralSettings::for_population(central.population);
            defaults.time_zone = central
                .time_zone
                .parse()
                .map_err(|_| bad(format!("time zone {:?}", central.time_zone)))?;
            defaults
        }
    };
    settings.validate().map_err(|e| bad(e.to_string()))?;
    let programmed = Brl(stored.map_or(0, |s| s.programmed_monthly_centavos));
    Ok(CentralContext {
        central,
        settings,
        programmed,
    })
}

async fn inputs(
    store: &Store,
    ctx: &CentralContext,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<UnitHistory>, Vec<Presence>), StoreError> {
    let units = store
        .unit_histories(&ctx.central.id, from, to)
        .await?
        .into_iter()
        .map(|(unit, events)| UnitHistory {
            unit: unit.record.id,
            unit_type: unit.record.unit_type,
            habilitated_from: unit.habilitated_from,
            retired_at: unit.retired_at,
            events,
        })
        .collect();
    let presences = store
        .presences_between(&ctx.central.id, from, to)
        .await?
        .into_iter()
        .map(|p| Presence {
            member: p.member,
            role: p.role,
            from: p.started_at,
            to: p.ended_at,
            reachable_only: p.reachable_only,
        })
        .collect();
    Ok((units, presences))
}

/// Computes and stores the unit-days and team days of `[first, last]`
/// (local dates). Returns how many days were computed.
///
/// # Errors
/// A store failure.
pub async fn compute_days(
    store: &Store,
    ctx: &CentralContext,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<usize, ReportingError> {
    if last < first {
        return Ok(0);
    }
    let tz = ctx.settings.time_zone;
    let (from, to) = (LocalDay::new(tz, first).start, LocalDay::new(tz, last).end);
    let (units, presences) = inputs(store, ctx, from, to).await?;
    let dates: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let unit_rows: Vec<_> = units
        .iter()
        .flat_map(|u| unit_days(u, &ctx.settings, dates.iter().copied()))
        .collect();
    let team_rows = team_days(
        &presences,
        &ctx.settings.minimum_team,
        tz,
        dates.iter().copied(),
    );
    let now = samu_domain::time::now();
    store
        .upsert_unit_days(&ctx.central.id, &unit_rows, now)
        .await?;
    store
        .upsert_team_days(&ctx.central.id, &team_rows, now)
        .await?;
    Ok(dates.len())
}

/// The monthly report of one central, computed from its history (and its
/// days stored on the way).
///
/// # Errors
/// Unknown central, invalid settings, or a store failure.
pub async fn monthly_report(
    store: &Store,
    id: &CentralId,
    month: YearMonth,
) -> Result<MonthlyReport, ReportingError> {
    let ctx = context(store, id).await?;
    let tz = ctx.settings.time_zone;
    let (from, to) = (
        LocalDay::new(tz, month.first_day()).start,
        LocalDay::new(tz, month.last_day()).end,
    );
    let (units, presences) = inputs(store, &ctx, from, to).await?;
    let indicators =
        MonthlyIndicators::compute(&ctx.settings, month, &units, &presences, ctx.programmed);
    let now = samu_domain::time::now();
    store
        .upsert_unit_days(id, &indicators.unit_days, now)
        .await?;
    store
        .upsert_team_days(id, &indicators.team_days, now)
        .await?;
    // The same figures as `Regulation/ResponseTimes` over the month.
    let clocks = store.occurrence_clocks(id, from, to).await?;
    let response_times = samu_occurrence::response_times(&clocks)
        .iter()
        .map(samu_report::ResponseTimes::from)
        .collect();
    Ok(MonthlyReport {
        central: CentralInfo {
            id: ctx.central.id.clone(),
            name: ctx.central.name.clone(),
            population: ctx.central.population,
        },
        settings: ctx.settings,
        indicators,
        response_times,
        generated_at: now,
    })
}

/// Most days the job computes for one central in one pass, so catching up
/// after a long downtime never blocks the others for long.
const MAX_DAYS_PER_PASS: u64 = 62;

/// Computes every finished local day not yet stored, for every central:
/// from the day after the last stored one (or the earliest habilitation)
/// up to yesterday, in the central's time zone. Returns the days computed.
///
/// # Errors
/// A store failure.
pub async fn catch_up(store: &Store, now: DateTime<Utc>) -> Result<usize, ReportingError> {
    let mut computed = 0;
    for central in store.centrals().await? {
        let ctx = match context(store, &central.id).await {
            Ok(ctx) => ctx,
            Err(e @ ReportingError::BadSettings { .. }) => {
                tracing::error!(error = %e, "skipping a central in the daily job");
                continue;
            }
            Err(e) => return Err(e),
        };
        let tz = ctx.settings.time_zone;
        let yesterday = now
            .with_timezone(&tz)
            .date_naive()
            .pred_opt()
            .expect("a representable date");
        let first = match store.last_computed_day(&central.id).await? {
            Some(last) => last.succ_opt().expect("a representable date"),
            None => match store.first_habilitation(&central.id).await? {
                Some(first) => first.with_timezone(&tz).date_naive(),
                None => continue,
            },
        };
        let last = yesterday.min(first + chrono::Days::new(MAX_DAYS_PER_PASS - 1));
        let n = compute_days(store, &ctx, first, last).await?;
        if n > 0 {
            tracing::info!(central = %central.id, %first, %last, "daily job stored unit-days and team days");
        }
        computed += n;
    }
    Ok(computed)
}

/// The daily job: checks every `every` whether a local day has ended
/// somewhere and stores its figures; catches up after downtime.
pub async fn daily_job(store: Store, every: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(e) = catch_up(&store, Utc::now()).await {
            tracing::error!(error = %e, "the daily job failed; it will retry");
        }
    }
}
