//! Checked WGS84 coordinates and great-circle distances.

use geo::{Distance, Haversine, Point};
use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A WGS84 position in degrees. Always finite and in range: NaN, infinities
/// and out-of-range values are refused by [`GeoPoint::new`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    lat: f64,
    lon: f64,
}

impl GeoPoint {
    /// A checked point. `field` is the path of the message holding the
    /// coordinates (`position`, `point`): errors name `field.latitude` or
    /// `field.longitude`.
    ///
    /// # Errors
    /// When latitude is not in [-90, 90] or longitude not in [-180, 180], or
    /// either is not finite.
    pub fn new(field: &str, lat: f64, lon: f64) -> Result<Self, ValidationError> {
        check_coordinate(field, "latitude", lat, 90.0)?;
        check_coordinate(field, "longitude", lon, 180.0)?;
        Ok(Self { lat, lon })
    }

    /// Latitude in degrees.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    pub fn lon(self) -> f64 {
        self.lon
    }

    /// Great-circle (haversine) distance in metres.
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        Haversine.distance(self.to_geo(), other.to_geo())
    }

    /// The point on the unit sphere as Cartesian coordinates. The straight-line
    /// (chord) distance between two such vectors grows monotonically with the
    /// great-circle distance, so a Euclidean spatial index over them answers
    /// great-circle nearest-neighbour queries exactly.
    pub fn unit_vector(self) -> [f64; 3] {
        let (lat, lon) = (self.lat.to_radians(), self.lon.to_radians());
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    }

    fn to_geo(self) -> Point<f64> {
        Point::new(self.lon, self.lat)
    }
}

/// Great-circle distance in metres for a chord between two points of the unit
/// sphere (see [`GeoPoint::unit_vector`]), with the same Earth radius that
/// [`GeoPoint::distance_m`] uses.
pub fn chord_to_metres(chord: f64) -> f64 {
    const MEAN_EARTH_RADIUS_M: f64 = 6_371_008.8;
    2.0 * MEAN_EARTH_RADIUS_M * (chord / 2.0).clamp(0.0, 1.0).asin()
}

fn check_coordinate(
    field: &str,
    name: &str,
    value: f64,
    limit: f64,
) -> Result<(), ValidationError> {
    // Every vehicle report passes here: the error's path is built only
    // for a value that fails.
    let path = || {
        if field.is_empty() {
            name.to_owned()
        } else {
            format!("{field}.{name}")
        }
    };
    if !value.is_finite() {
        return Err(ValidationError::new(
            path(),
            format!("{value} is not a finite number"),
        ));
    }
    if value.abs() > limit {
        return Err(ValidationError::new(
            path(),
            format!("{value} is outside [-{limit}, {limit}] degrees"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_finite_and_out_of_range() {
        for (lat, lon, field) in [
            (f64::NAN, 0.0, "position.latitude"),
            (0.0, f64::INFINITY, "position.longitude"),
            (90.0001, 0.0, "position.latitude"),
            (0.0, -180.5, "position.longitude"),
            (f64::NEG_INFINITY, 0.0, "position.latitude"),
        ] {
            assert_eq!(
                GeoPoint::new("position", lat, lon).unwrap_err().field,
                field
            );
        }
        assert!(GeoPoint::new("p", -90.0, 180.0).is_ok());
    }

    #[test]
    fn distance_between_belo_horizonte_and_contagem() {
        let bh = GeoPoint::new("", -19.9167, -43.9345).unwrap();
        let contagem = GeoPoint::new("", -19.9317, -44.0536).unwrap();
        let d = bh.distance_m(contagem);
        assert!((12_000.0..13_000.0).contains(&d), "{d}");
    }

    #[test]
    fn chord_distance_agrees_with_haversine() {
        let a = GeoPoint::new("", -19.9167, -43.9345).unwrap();
        let b = GeoPoint::new("", -21.7878, -46.5608).unwrap();
        let (va, vb) = (a.unit_vector(), b.unit_vector());
        let chord =
            ((va[0] - vb[0]).powi(2) + (va[1] - vb[1]).powi(2) + (va[2] - vb[2]).powi(2)).sqrt();
        let diff = (chord_to_metres(chord) - a.distance_m(b)).abs();
        assert!(diff < 0.01, "{diff}");
    }
}
