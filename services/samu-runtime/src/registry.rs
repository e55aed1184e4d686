//! Admin operations: registry changes go to the store and, for units, to the
//! live fleet at once.

use chrono::{DateTime, Utc};
use samu_domain::{UnitId, ValidationError};
use samu_store::{BaseRow, CentralRow, IssuedCredential, Role, StoreError, UnitRow};

use crate::{
    central::Central,
    feed::{FleetEvent, UnitView},
};

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A field is wrong.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Something named does not exist.
    #[error("{field}: {message}")]
    NotFound {
        /// The field naming it.
        field: &'static str,
        /// What is missing.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Central {
    /// Creates or updates a central.
    ///
    /// # Errors
    /// A store failure.
    pub async fn upsert_central(&self, central: &CentralRow) -> Result<(), RegistryError> {
        self.inner
            .store
            .upsert_central(central, samu_domain::time::now())
            .await?;
        Ok(())
    }

    /// Changes a central's indicator settings (`Some(None)` restores the
    /// defaults) and/or its programmed monthly amount, keeping what is not
    /// given.
    ///
    /// # Errors
    /// A store failure.
    pub async fn put_indicator_settings(
        &self,
        central: &samu_domain::CentralId,
        settings: Option<Option<String>>,
        programmed_monthly_centavos: Option<i64>,
    ) -> Result<(), RegistryError> {
        let store = &self.inner.store;
        let current = store.central_settings(central).await?;
        let row = samu_store::indicators::SettingsRow {
            settings: settings.unwrap_or_else(|| current.as_ref().and_then(|c| c.settings.clone())),
            programmed_monthly_centavos: programmed_monthly_centavos
                .or(current.map(|c| c.programmed_monthly_centavos))
                .unwrap_or(0),
        };
        store
            .put_central_settings(central, &row, samu_domain::time::now())
            .await?;
        Ok(())
    }

    /// Creates or updates a base of an existing central.
    ///
    /// # Errors
    /// Unknown central, or a store failure.
    pub async fn upsert_base(&self, base: &BaseRow) -> Result<(), RegistryError> {
        if self.inner.store.central(&base.central).await?.is_none() {
            return Err(RegistryError::NotFound {
                field: "central_id",
                message: format!("unknown central {}", base.central),
            });
        }
        self.inner.store.upsert_base(base).await?;
        Ok(())
    }

    /// Creates or updates a unit and puts it in the live fleet (or retires it
    /// from dispatch when its habilitation ended).
    ///
    /// # Errors
    /// Unknown central or base, a base of another central, or a store failure.
    pub async fn upsert_unit(&self, unit: &UnitRow) -> Result<(), RegistryError> {
        let store = &self.inner.store;
        if store.central(&unit.record.central).await?.is_none() {
            return Err(RegistryError::NotFound {
                field: "central_id",
                message: format!("unknown central {}", unit.record.central),
            });
        }
        if let Some(base_id) = &unit.record.base {
            match store.base(base_id).await? {
                None => {
                    return Err(RegistryError::NotFound {
                        field: "base_id",
                        message: format!("unknown base {base_id}"),
                    })
                }
                Some(base) if base.central != unit.record.central => {
                    return Err(ValidationError::new(
                        "base_id",
                        format!("base {base_id} belongs to central {}", base.central),
                    )
                    .into())
                }
                Some(_) => {}
            }
        }
        store.upsert_unit(unit).await?;
        let now = samu_domain::time::now();
        let retired = unit.retired_at.is_some_and(|r| r <= now);
        let view = self.with_fleet_mut(|fleet| {
            if retired {
                fleet.retire_unit(&unit.record.id);
            } else {
                fleet.upsert_unit(unit.record.clone(), now);
            }
            fleet.unit(&unit.record.id).map(UnitView::from)
        });
        if let Some(view) = view {
            self.publish(FleetEvent::Unit(view));
        }
        Ok(())
    }

    /// Issues a device token for a registered unit.
    ///
    /// # Errors
    /// Unknown unit, or a store failure.
    pub async fn issue_device_token(
        &self,
        unit: &UnitId,
    ) -> Result<IssuedCredential, RegistryError> {
        if self.with_fleet(|fleet| fleet.unit(unit).is_none()) {
            return Err(RegistryError::NotFound {
                field: "unit_id",
                message: format!("unknown unit {unit}"),
            });
        }
        self.issue(Role::Device, Some(unit), &format!("device of {unit}"), None)
            .await
    }

    /// Issues a token for a person or a wall display.
    ///
    /// # Errors
    /// The device role (use [`Self::issue_device_token`]), or a store failure.
    pub async fn issue_access_token(
        &self,
        role: Role,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedCredential, RegistryError> {
        if role == Role::Device {
            return Err(ValidationError::new("role", "device tokens are issued per unit").into());
        }
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 120 {
            return Err(ValidationError::new("label", "must be 1 to 120 characters").into());
        }
        self.issue(role, None, label, expires_at).await
    }

    async fn issue(
        &self,
        role: Role,
        unit: Option<&UnitId>,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedCredential, RegistryError> {
        let issued = self
            .inner
            .store
            .issue_credential(role, unit, label, expires_at, samu_domain::time::now())
            .await?;
        self.inner.credentials.insert(
            samu_store::credentials::token_hash(&issued.token),
            issued.credential.clone(),
        );
        tracing::debug!(token_id = %issued.credential.id, role = %role, "token issued");
        Ok(issued)
    }

    /// Revokes a token.
    ///
    /// # Errors
    /// Unknown token id, or a store failure.
    pub async fn revoke_token(&self, id: &str) -> Result<(), RegistryError> {
        if !self
            .inner
            .store
            .revoke_credential(id, samu_domain::time::now())
            .await?
        {
            return Err(RegistryError::NotFound {
                field: "token_id",
                message: format!("unknown token {id}"),
            });
        }
        self.inner.credentials.remove_id(id);
        tracing::info!(token_id = %id, "token revoked");
        Ok(())
    }
}
