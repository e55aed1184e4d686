//! Centrals, municipalities, bases and units: the registry the admin API
//! edits and the demo seeds.

use chrono::{DateTime, Utc};
use samu_domain::{BaseId, CentralId, GeoPoint, UnitId, UnitType};
use samu_fleet::UnitRecord;
use sqlx::Row;

use crate::{
    sql::{corrupt, from_ms, ms},
    Store, StoreError,
};

/// A central.
#[derive(Debug, Clone, PartialEq)]
pub struct CentralRow {
    /// IBGE code of the seat municipality.
    pub id: CentralId,
    /// "SAMU Belo Horizonte / Ouro Preto / Mariana".
    pub name: String,
    /// IANA time zone of its calendar.
    pub time_zone: String,
    /// Population covered.
    pub population: u64,
}

/// A municipality served by a central.
#[derive(Debug, Clone, PartialEq)]
pub struct MunicipalityRow {
    /// IBGE code.
    pub ibge: CentralId,
    /// The central serving it.
    pub central: CentralId,
    /// Name.
    pub name: String,
}

/// A base.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseRow {
    /// Id.
    pub id: BaseId,
    /// Central.
    pub central: CentralId,
    /// Name.
    pub name: String,
    /// Where it is.
    pub location: GeoPoint,
}

/// A unit with its habilitation period.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitRow {
    /// Registry data shared with the fleet state.
    pub record: UnitRecord,
    /// Counts for the indicators from here.
    pub habilitated_from: DateTime<Utc>,
    /// And until here.
    pub retired_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Creates or updates a central.
    ///
    /// # Errors
    /// A database failure.
    pub async fn upsert_central(
        &self,
        c: &CentralRow,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO centrals (id, name, time_zone, population, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, time_zone = excluded.time_zone, \
             population = excluded.population, updated_at = excluded.updated_at",
        )
        .bind(c.id.as_str())
        .bind(&c.name)
        .bind(&c.time_zone)
        .bind(i64::try_from(c.population).unwrap_or(i64::MAX))
        .bind(ms(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One central.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn central(&self, id: &CentralId) -> Result<Option<CentralRow>, StoreError> {
        let row = sqlx::query("SELECT id, name, time_zone, population FROM centrals WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| central_from_row(&r)).transpose()
    }

    /// Every central, by id.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn centrals(&self) -> Result<Vec<CentralRow>, StoreError> {
        let rows = sqlx::query("SELECT id, name, time_zone, population FROM centrals ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(central_from_row).collect()
    }

    /// Creates or updates a municipality.
    ///
    /// # Errors
    /// A database failure (for example an unknown central).
    pub async fn upsert_municipality(&self, m: &MunicipalityRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO municipalities (ibge, central_id, name) VALUES ($1, $2, $3) \
             ON CONFLICT (ibge) DO UPDATE SET central_id = excluded.central_id, name = excluded.name",
        )
        .bind(m.ibge.as_str())
        .bind(m.central.as_str())
        .bind(&m.name)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Creates or updates a base.
    ///
    /// # Errors
    /// A database failure (for example an unknown central).
    pub async fn upsert_base(&self, b: &BaseRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO bases (id, central_id, name, lat, lon) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET central_id = excluded.central_id, name = excluded.name, \
             lat = excluded.lat, lon = excluded.lon",
        )
        .bind(b.id.as_str())
        .bind(b.central.as_str())
        .bind(&b.name)
        .bind(b.location.lat())
        .bind(b.location.lon())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One base.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn base(&self, id: &BaseId) -> Result<Option<BaseRow>, StoreError> {
        let row = sqlx::query("SELECT id, central_id, name, lat, lon FROM bases WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            const T: &str = "bases";
            Ok(BaseRow {
                id: BaseId::parse("id", r.try_get("id")?).map_err(corrupt(T))?,
                central: CentralId::parse("central_id", r.try_get("central_id")?)
                    .map_err(corrupt(T))?,
                name: r.try_get("name")?,
                location: GeoPoint::new("", r.try_get("lat")?, r.try_get("lon")?)
                    .map_err(corrupt(T))?,
            })
        })
        .transpose()
    }

    /// Creates or updates a unit.
    ///
    /// # Errors
    /// A database failure (for example an unknown central or base).
    pub async fn upsert_unit(&self, u: &UnitRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO units (id, central_id, unit_type, base_id, label, habilitated_from, retired_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET central_id = excluded.central_id, \
             unit_type = excluded.unit_type, base_id = excluded.base_id, label = excluded.label, \
             habilitated_from = excluded.habilitated_from, retired_at = excluded.retired_at",
        )
        .bind(u.record.id.as_str())
        .bind(u.record.central.as_str())
        .bind(u.record.unit_type.code())
        .bind(u.record.base.as_ref().map(|b| b.as_str().to_owned()))
        .bind(&u.record.label)
        .bind(ms(u.habilitated_from))
        .bind(u.retired_at.map(ms))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One unit.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn unit(&self, id: &UnitId) -> Result<Option<UnitRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, central_id, unit_type, base_id, label, habilitated_from, retired_at \
             FROM units WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| unit_from_row(&r)).transpose()
    }

    /// When `central`'s first unit was habilitated: the first day its
    /// indicators count. `None` for a central without units. One row from
    /// the `units_central` index, where reading every unit to find it cost
    /// the daily job the whole registry once per central and pass.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn first_habilitation(
        &self,
        central: &CentralId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let first: Option<i64> =
            sqlx::query("SELECT MIN(habilitated_from) AS first FROM units WHERE central_id = $1")
                .bind(central.as_str())
                .fetch_one(self.pool())
                .await?
                .try_get("first")?;
        first.map(|ms| from_ms("units", ms)).transpose()
    }

    /// Every unit, by id.
    ///
    /// # Errors
    /// A database failure or a corrupt row.
    pub async fn units(&self) -> Result<Vec<UnitRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, central_id, unit_type, base_id, label, habilitated_from, retired_at \
             FROM units ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(unit_from_row).collect()
    }
}

fn central_from_row(r: &sqlx::any::AnyRow) -> Result<CentralRow, StoreError> {
    Ok(CentralRow {
        id: CentralId::parse("id", r.try_get("id")?).map_err(corrupt("centrals"))?,
        name: r.try_get("name")?,
        time_zone: r.try_get("time_zone")?,
        population: u64::try_from(r.try_get::<i64, _>("population")?).unwrap_or(0),
    })
}

pub(crate) fn unit_from_row(r: &sqlx::any::AnyRow) -> Result<UnitRow, StoreError> {
    const T: &str = "units";
    let base: Option<String> = r.try_get("base_id")?;
    Ok(UnitRow {
        record: UnitRecord {
            id: UnitId::parse("id", r.try_get("id")?).map_err(corrupt(T))?,
            central: CentralId::parse("central_id", r.try_get("central_id")?)
                .map_err(corrupt(T))?,
            unit_type: UnitType::parse("unit_type", r.try_get("unit_type")?).map_err(corrupt(T))?,
            base: base
                .map(|b| BaseId::parse("base_id", &b))
                .transpose()
                .map_err(corrupt(T))?,
            label: r.try_get("label")?,
        },
        habilitated_from: from_ms(T, r.try_get("habilitated_from")?)?,
        retired_at: r
            .try_get::<Option<i64>, _>("retired_at")?
            .map(|v| from_ms(T, v))
            .transpose()?,
    })
}
