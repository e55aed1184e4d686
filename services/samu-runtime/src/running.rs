//! Today's running figures for the wall: the central's team on duty against
//! the minimum of the current shift, refreshed every few seconds and sent
//! on the feed when they change.

use std::{collections::HashMap, time::Duration};

use samu_domain::{CentralId, StaffRole};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::{central::Central, feed::FleetEvent, reporting};

impl Central {
    /// The latest running figures, by central id (the wall snapshot's
    /// `indicators`).
    pub fn running_figures(&self) -> serde_json::Map<String, Value> {
        self.inner
            .figures
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    async fn figures_of(&self, id: &CentralId) -> Result<Value, reporting::ReportingError> {
        let ctx = reporting::context(self.store(), id).await?;
        let local = chrono::Utc::now()
            .with_timezone(&ctx.settings.time_zone)
            .time();
        let team = &ctx.settings.minimum_team;
        let shift = team.shift_at(local);
        let present = self.store().on_duty(id).await?;
        let mut on_duty = 0;
        let mut minimum = 0;
        let mut missing = Vec::new();
        for role in StaffRole::ALL {
            let counted = present
                .iter()
                .filter(|p| p.role == role && !p.reachable_only)
                .count() as u32;
            let required = team.required(shift, role);
            // A surplus in one role never hides a shortfall in another.
            on_duty += counted.min(required);
            minimum += required;
            if counted < required {
                missing.push(format!("{} {}", required - counted, role.label_pt()));
            }
        }
        let mut figures = json!({ "team": { "on_duty": on_duty, "minimum": minimum } });
        if !missing.is_empty() {
            figures["faltam"] = json!(missing.join(", "));
        }
        Ok(figures)
    }
}

/// Refreshes the running figures every `every` until `shutdown`.
pub(crate) async fn refresh(central: Central, every: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    let mut last: HashMap<CentralId, Value> = HashMap::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let centrals = match central.store().centrals().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "running figures: cannot list centrals");
                continue;
            }
        };
        for c in centrals {
            match central.figures_of(&c.id).await {
                Ok(figures) if last.get(&c.id) != Some(&figures) => {
                    last.insert(c.id.clone(), figures.clone());
                    central
                        .inner
                        .figures
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(c.id.clone(), figures.clone());
                    central.publish(FleetEvent::Indicators {
                        central: c.id.clone(),
                        figures,
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(central = %c.id, error = %e, "running figures failed"),
            }
        }
    }
}
