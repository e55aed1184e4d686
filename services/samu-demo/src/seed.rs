//! Seeding the demo's registry and writing its tokens file.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Context;
use chrono::Utc;
use rand::Rng;
use samu_fleet::UnitRecord;
use samu_runtime::{
    accounts::{AccountError, NewUser, MIN_PASSWORD},
    Central,
};
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
    /// The demo's people, by role name (`tarm`, `physician`,
    /// `radio_operator`, `manager`): the console's logins, and the accounts
    /// the simulated central desk works with.
    #[serde(default)]
    pub users: BTreeMap<String, DemoLogin>,
    /// Device token per unit id.
    pub devices: BTreeMap<String, String>,
}

/// Writes `DATA_DIR/demo-tokens.json`: one token per role the demo seeds,
/// one per unit, and the login of one demo person per console role
/// (`users`, keyed by role: the accounts `tarm`, `medico`, `radio` and
/// `gestor`, working for every central). Tokens of an earlier run are reused
/// while they are valid, and passwords while they still match, so
/// restarting the demo does not pile up credentials; a user whose password
/// is not in the file (the file was deleted) gets a new one.
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
    let mut users = BTreeMap::new();
    for spec in &DEMO_USERS {
        let login = ensure_user(
            central,
            spec,
            p.and_then(|p| p.users.get(spec.role.as_str())),
        )
        .await
        .with_context(|| format!("cannot set up the demo user {}", spec.username))?;
        users.insert(spec.role.as_str().to_owned(), login);
    }
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
        users,
        devices,
    };
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {data_dir}"))?;
    write_private(&path, &serde_json::to_string_pretty(&tokens)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(tokens)
}

/// A demo person's login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoLogin {
    /// Login name.
    pub username: String,
    /// Password (random, made on the first run and kept across restarts).
    pub password: String,
}

/// One account the demo seeds.
struct UserSpec {
    role: Role,
    username: &'static str,
    name: &'static str,
}

/// One person per console role, working for every central.
const DEMO_USERS: [UserSpec; 4] = [
    UserSpec {
        role: Role::Tarm,
        username: "tarm",
        name: "Ana (TARM demo)",
    },
    UserSpec {
        role: Role::Physician,
        username: "medico",
        name: "Bruno (médico regulador demo)",
    },
    UserSpec {
        role: Role::RadioOperator,
        username: "radio",
        name: "Carla (rádio-operadora demo)",
    },
    UserSpec {
        role: Role::Manager,
        username: "gestor",
        name: "Davi (gestor demo)",
    },
];

/// Characters of a generated password.
const PASSWORD_LEN: usize = 20;

/// A random password: 20 letters and digits (~119 bits).
pub(crate) fn new_password() -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// Makes sure the account of `spec` exists and returns a password that
/// logs it in: the previous run's when it still matches the stored hash,
/// otherwise a new one (set on the account).
async fn ensure_user(
    central: &Central,
    spec: &UserSpec,
    previous: Option<&DemoLogin>,
) -> anyhow::Result<DemoLogin> {
    let remembered = previous
        .filter(|p| p.username == spec.username && p.password.chars().count() >= MIN_PASSWORD)
        .map(|p| p.password.clone());
    let login = |password: String| DemoLogin {
        username: spec.username.to_owned(),
        password,
    };
    let existing = central.store().user_by_username(spec.username).await?;
    let Some((user, hash)) = existing else {
        let password = remembered.unwrap_or_else(new_password);
        let created = central
            .create_user(NewUser {
                username: spec.username.to_owned(),
                name: spec.name.to_owned(),
                role: spec.role,
                central: None,
                password: password.clone(),
            })
            .await;
        return match created {
            Ok(user) => {
                tracing::info!(username = %user.username, role = %user.role, "demo user created");
                Ok(login(password))
            }
            // Another instance on the same store created it meanwhile.
            Err(AccountError::Taken(_)) => {
                let (user, _) = central
                    .store()
                    .user_by_username(spec.username)
                    .await?
                    .context("the user was taken and is gone")?;
                central.set_password(&user.id, &password).await?;
                Ok(login(password))
            }
            Err(e) => Err(e.into()),
        };
    };
    if user.role != spec.role {
        tracing::warn!(
            username = %user.username,
            role = %user.role,
            expected = %spec.role,
            "a demo username belongs to an account of another role; the demo desk will be refused"
        );
    }
    if user.disabled_at.is_some() {
        tracing::warn!(username = %user.username, "the demo user is disabled; it cannot log in");
    }
    if let Some(password) = remembered {
        if password_matches(&password, &hash).await {
            return Ok(login(password));
        }
    }
    let password = new_password();
    central.set_password(&user.id, &password).await?;
    tracing::info!(username = %user.username, "demo user's password reset (no valid previous one)");
    Ok(login(password))
}

/// Whether `password` matches a stored argon2 PHC string (checked on the
/// blocking pool: it is deliberately slow).
async fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::{PasswordHash, PasswordVerifier};
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_enough_and_differ() {
        let (a, b) = (new_password(), new_password());
        assert!(a.chars().count() >= MIN_PASSWORD);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_tokens_file_of_before_the_users_still_reads() {
        let old = r#"{"admin": "a", "wall": "w", "tarm": "t", "physician": "p",
                      "radio_operator": "r", "manager": "m", "devices": {"u": "d"}}"#;
        let tokens: DemoTokens = serde_json::from_str(old).unwrap();
        assert!(tokens.users.is_empty());
        assert_eq!(tokens.devices["u"], "d");
    }
}
