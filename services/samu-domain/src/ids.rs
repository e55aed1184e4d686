//! Identifiers. Each is a newtype so a unit id can never be passed where a
//! central id is expected, and each is validated when it is made.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A central, identified by the IBGE code of its seat municipality
/// (7 digits, e.g. `3106200` for Belo Horizonte).
///
/// The first two digits are the state (11 to 53). The seventh is a check
/// digit, but a few official codes break the published rule, so it is not
/// enforced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct CentralId(Arc<str>);

impl CentralId {
    /// Parses an IBGE municipality code.
    ///
    /// # Errors
    /// When the text is not 7 ASCII digits with a valid state prefix.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if raw.len() != 7 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(
                field,
                format!("{raw:?} is not an IBGE municipality code (7 digits)"),
            ));
        }
        let state: u8 = raw[..2].parse().unwrap_or(0);
        if !(11..=53).contains(&state) {
            return Err(ValidationError::new(
                field,
                format!("{raw:?} does not start with a Brazilian state code (11 to 53)"),
            ));
        }
        Ok(Self(raw.into()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CentralId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("central_id", &value)
    }
}

impl From<CentralId> for String {
    fn from(value: CentralId) -> Self {
        value.0.as_ref().to_owned()
    }
}

/// Serialized as the code's text, without a copy (as the slug ids below).
impl Serialize for CentralId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl fmt::Display for CentralId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Defines a short opaque identifier: 1 to 64 characters of `[A-Za-z0-9._-]`.
/// The charset keeps ids safe in URLs, file names, log lines and Redis keys.
///
/// Ids are shared, not copied (`Arc<str>`, like [`CentralId`]): a unit's id
/// is cloned into the fleet's view, the track row and the wall's event of
/// every report, and a clone is now a reference count, not an allocation.
macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $default_field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(Arc<str>);

        /// Serialized as the text it holds, written from the shared text
        /// itself: the wall's frames and the API's JSON name a unit in every
        /// row, and a copy into a `String` first was an allocation each.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl $name {
            /// Parses an id, reporting errors against `field`.
            ///
            /// # Errors
            /// When the text is empty, longer than 64 characters, or has a
            /// character outside `[A-Za-z0-9._-]`.
            pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
                parse_slug(field, raw).map(|()| Self(raw.into()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse($default_field, &value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0.as_ref().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// A vehicle of the fleet (an ambulance, a motorcycle, an aircraft).
    UnitId,
    "unit_id"
);
slug_id!(
    /// A base where units are stationed.
    BaseId,
    "base_id"
);
slug_id!(
    /// A professional, by the central's opaque id (never a name or a CPF).
    MemberId,
    "member_id"
);

const MAX_SLUG_LEN: usize = 64;

fn parse_slug(field: &str, raw: &str) -> Result<(), ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if raw.len() > MAX_SLUG_LEN {
        return Err(ValidationError::new(
            field,
            format!(
                "is {} characters long, at most {MAX_SLUG_LEN} allowed",
                raw.len()
            ),
        ));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "has the character {bad:?}; only letters, digits, '.', '_' and '-' are allowed"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_ids_are_ibge_codes() {
        assert_eq!(
            CentralId::parse("c", "3106200").unwrap().as_str(),
            "3106200"
        );
        assert_eq!(
            CentralId::parse("c", " 3170107 ").unwrap().as_str(),
            "3170107"
        );
        for bad in ["", "310620", "31062000", "31062a0", "9906200", "0006200"] {
            let err = CentralId::parse("central_id", bad).unwrap_err();
            assert_eq!(err.field, "central_id", "{bad}");
        }
    }

    #[test]
    fn slugs_accept_safe_characters_only() {
        assert!(UnitId::parse("u", "USA-01.bh_2").is_ok());
        assert!(UnitId::parse("u", "").is_err());
        assert!(UnitId::parse("u", "a b").is_err());
        assert!(UnitId::parse("u", "ação").is_err());
        assert!(UnitId::parse("u", &"x".repeat(65)).is_err());
        assert!(UnitId::parse("u", &"x".repeat(64)).is_ok());
        let err = MemberId::parse("crew[2].member_id", "a/b").unwrap_err();
        assert_eq!(err.field, "crew[2].member_id");
    }

    #[test]
    fn ids_round_trip_through_serde_with_validation() {
        let id: UnitId = serde_json::from_str("\"USB-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"USB-1\"");
        assert!(serde_json::from_str::<UnitId>("\"bad id\"").is_err());
        let central: CentralId = serde_json::from_str("\"3106200\"").unwrap();
        assert_eq!(serde_json::to_string(&central).unwrap(), "\"3106200\"");
        assert!(serde_json::from_str::<CentralId>("\"9906200\"").is_err());
        // In a map key too, as the wall's per-unit maps have them.
        let keyed = std::collections::BTreeMap::from([(id, central)]);
        assert_eq!(
            serde_json::to_string(&keyed).unwrap(),
            r#"{"USB-1":"3106200"}"#
        );
    }
}
