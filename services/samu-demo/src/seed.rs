//! Seeding the demo's registry and writing its tokens file.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Context;
use chrono::Utc;
use samu_fleet::UnitRecord;
use samu_runtime::Central;
use samu_store::{BaseRow, CentralRow, MunicipalityRow, Role, Store, UnitRow};
use serde::{Deserialize, Serialize};

use crate::catalogue;

/// Writes the ten centrals, their municipalities, bases and units. Only
/// what is missing is inserted, so restarting the demo keeps each unit's
/// habilitation date and history.
///
/// # Errors
/// A store failure.
pub async fn seed(store: &Store) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut added = 0;
    for c in catalogue::centrals() {
        store
            .upsert_central(
                &CentralRow {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    time_zone: "America/Sao_Paulo".into(),
                    population: c.population,
                },
                now,
            )
            .await?;
        if store.central_settings(&c.id).await?.is_none() {
            let settings = samu_store::indicators::SettingsRow {
                settings: None,
                programmed_monthly_centavos: c.programmed_monthly_centavos,
            };
            store.put_central_settings(&c.id, &settings, now).await?;
        }
        for (ibge, name, _) in &c.municipalities {
            store
                .upsert_municipality(&MunicipalityRow {
                    ibge: ibge.clone(),
                    central: c.id.clone(),
                    name: name.clone(),
                })
                .await?;
        }
        for b in &c.bases {
            store
                .upsert_base(&BaseRow {
                    id: b.id.clone(),
                    central: c.id.clone(),
                    name: b.name.clone(),
                    location: b.location,
                })
                .await?;
        }
        for u in &c.units {
            if store.unit(&u.id).await?.is_some() {
                continue;
            }
            store
                .upsert_unit(&UnitRow {
                    record: UnitRecord {
                        id: u.id.clone(),
                        central: u.central.clone(),
                        unit_type: u.unit_type,
                        base: Some(u.base.clone()),
                        label: u.label.clone(),
                    },
                    habilitated_from: now,
                    retired_at: None,
                })
                .await?;
            added += 1;
        }
    }
    tracing::info!(units_added = added, "demo registry seeded");
    Ok(())
}

/// The demo's tokens, as written to `demo-tokens.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoTokens {
    /// Where the file is.
    #[serde(skip)]
    pub path: PathBuf,
    /// Admin role.
    pub admin: String,
    /// Read-only wall display.
    pub wall: String,
    /// TARM (call taker).
    pub tarm: String,
    /// Médico regulador.
    pub physician: String,
    /// Rádio-operador.
    pub radio_operator: String,
    /// Gestor.
    pub manager: String,
    /// Device token per unit id.
    pub devices: BTreeMap<String, String>,
}

/// Writes `DATA_DIR/demo-tokens.json`: one token per role the demo seeds and
/// one per unit. Tokens of an earlier run are reused while they are valid,
/// so restarting the demo does not pile up credentials.
///
/// # Errors
/// A store failure or an unwritable file.
pub async fn write_tokens(central: &Central, data_dir: &str) -> anyhow::Result<DemoTokens> {
    let path = Path::new(data_dir).join("demo-tokens.json");
    let previous: Option<DemoTokens> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let valid = |token: Option<&String>, role: Role| {
        token
            .filter(|t| central.authenticate(t).is_ok_and(|c| c.role == role))
            .cloned()
    };
    let person = |role: Role, previous: Option<String>| async move {
        match valid(previous.as_ref(), role) {
            Some(t) => Ok::<_, anyhow::Error>(t),
            None => Ok(central
                .issue_access_token(role, &format!("demo {role}"), None)
                .await
                .with_context(|| format!("cannot issue the demo {role} token"))?
                .token),
        }
    };
    let p = previous.as_ref();
    let admin = person(Role::Admin, p.map(|p| p.admin.clone())).await?;
    let wall = person(Role::Wall, p.map(|p| p.wall.clone())).await?;
    let tarm = person(Role::Tarm, p.map(|p| p.tarm.clone())).await?;
    let physician = person(Role::Physician, p.map(|p| p.physician.clone())).await?;
    let radio_operator = person(Role::RadioOperator, p.map(|p| p.radio_operator.clone())).await?;
    let manager = person(Role::Manager, p.map(|p| p.manager.clone())).await?;
    let mut devices = BTreeMap::new();
    for unit in catalogue::centrals().into_iter().flat_map(|c| c.units) {
        let old = p.and_then(|p| p.devices.get(unit.id.as_str()));
        let token = match old.filter(|t| {
            central
                .authenticate(t)
                .is_ok_and(|c| c.role == Role::Device && c.unit.as_ref() == Some(&unit.id))
        }) {
            Some(t) => t.clone(),
            None => {
                central
                    .issue_device_token(&unit.id)
                    .await
                    .with_context(|| format!("cannot issue the device token of {}", unit.id))?
                    .token
            }
        };
        devices.insert(unit.id.to_string(), token);
    }
    let tokens = DemoTokens {
        path: path.clone(),
        admin,
        wall,
        tarm,
        physician,
        radio_operator,
        manager,
        devices,
    };
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {data_dir}"))?;
    write_private(&path, &serde_json::to_string_pretty(&tokens)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(tokens)
}

/// Writes a file readable by its owner only: it holds secrets.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
