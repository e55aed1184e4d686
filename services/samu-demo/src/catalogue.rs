//! The ten municipal SAMU of the seed's Annex II, embedded so a clone of
//! the project alone runs the demo, and the layout of their fleets.

use samu_domain::{BaseId, CentralId, GeoPoint, UnitId, UnitType};
use serde::Deserialize;

/// `data/samu-municipal-mg.csv`, as the project ships it.
pub const CSV: &str = include_str!("../../../data/samu-municipal-mg.csv");

/// Coordinates of municipalities that share a central but are not its seat
/// (the CSV gives the seat's only).
const OTHER_SEATS: &[(&str, f64, f64)] = &[
    ("3146107", -20.3856, -43.5035), // Ouro Preto
    ("3140001", -20.3778, -43.4161), // Mariana
];

#[derive(Debug, Deserialize)]
struct Row {
    samu: String,
    municipalities: String,
    ibge_codes: String,
    usa: u32,
    usb: u32,
    population: u64,
    custeio_y1_monthly_brl: f64,
    lat: f64,
    lon: f64,
}

/// One central of the demo.
#[derive(Debug, Clone)]
pub struct DemoCentral {
    /// IBGE code of the seat.
    pub id: CentralId,
    /// "SAMU Uberaba".
    pub name: String,
    /// Population covered.
    pub population: u64,
    /// Monthly amount programmed for the first year (Annex II), centavos.
    pub programmed_monthly_centavos: i64,
    /// (IBGE code, name, centre) of each municipality served.
    pub municipalities: Vec<(CentralId, String, GeoPoint)>,
    /// Its bases.
    pub bases: Vec<DemoBase>,
    /// Its units.
    pub units: Vec<DemoUnit>,
}

/// A base of the demo.
#[derive(Debug, Clone)]
pub struct DemoBase {
    /// Id.
    pub id: BaseId,
    /// "Base Uberaba 1".
    pub name: String,
    /// Where.
    pub location: GeoPoint,
    /// IBGE code of the municipality it stands in.
    pub municipality: CentralId,
}

/// A unit of the demo.
#[derive(Debug, Clone)]
pub struct DemoUnit {
    /// Id, e.g. `3106200-usa-01`.
    pub id: UnitId,
    /// Its central.
    pub central: CentralId,
    /// USA or USB.
    pub unit_type: UnitType,
    /// "USA 01".
    pub label: String,
    /// Its base.
    pub base: BaseId,
    /// Where the base is.
    pub base_location: GeoPoint,
}

/// The ten centrals with their bases and units. Deterministic: the same
/// table gives the same ids and places every time.
///
/// # Panics
/// If the embedded table is malformed (a build-time mistake, caught by tests).
pub fn centrals() -> Vec<DemoCentral> {
    let mut reader = csv::Reader::from_reader(CSV.as_bytes());
    reader
        .deserialize::<Row>()
        .map(|row| layout(row.expect("the embedded SAMU table parses")))
        .collect()
}

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new("", lat, lon).expect("catalogue coordinates are valid")
}

/// Seat bases on a ring of ~3 km around the centre (one per five units),
/// one base in each other municipality; units go round-robin over bases,
/// USA first so each central's advanced units sit in different places.
fn layout(row: Row) -> DemoCentral {
    let codes: Vec<&str> = row.ibge_codes.split(';').collect();
    let names: Vec<&str> = row.municipalities.split(';').collect();
    let id = CentralId::parse("ibge_codes", codes[0]).expect("valid IBGE code");
    let seat = point(row.lat, row.lon);
    let municipalities: Vec<(CentralId, String, GeoPoint)> = codes
        .iter()
        .zip(&names)
        .map(|(code, name)| {
            let centre = OTHER_SEATS
                .iter()
                .find(|(c, _, _)| c == code)
                .map_or(seat, |(_, lat, lon)| point(*lat, *lon));
            (
                CentralId::parse("ibge", code).expect("valid IBGE code"),
                (*name).to_owned(),
                centre,
            )
        })
        .collect();
    let fleet = row.usa + row.usb;
    let seat_bases = (fleet / 5).max(1);
    let mut bases = Vec::new();
    for n in 0..seat_bases {
        let angle = f64::from(n) * std::f64::consts::TAU / f64::from(seat_bases);
        let radius_deg = if seat_bases == 1 { 0.0 } else { 0.027 };
        bases.push(DemoBase {
            id: BaseId::parse("base", &format!("{id}-base-{:02}", n + 1)).expect("valid id"),
            name: format!("Base {} {}", names[0], n + 1),
            location: point(
                row.lat + radius_deg * angle.sin(),
                row.lon + radius_deg * angle.cos(),
            ),
            municipality: id.clone(),
        });
    }
    for (code, name, centre) in municipalities.iter().skip(1) {
        bases.push(DemoBase {
            id: BaseId::parse("base", &format!("{id}-base-{code}")).expect("valid id"),
            name: format!("Base {name}"),
            location: *centre,
            municipality: code.clone(),
        });
    }
    let types = std::iter::repeat_n(UnitType::Usa, row.usa as usize)
        .chain(std::iter::repeat_n(UnitType::Usb, row.usb as usize));
    let mut counters = [0u32; 6];
    let units = types
        .enumerate()
        .map(|(i, unit_type)| {
            counters[unit_type.index()] += 1;
            let n = counters[unit_type.index()];
            let base = &bases[i % bases.len()];
            let code = unit_type.code();
            DemoUnit {
                id: UnitId::parse("unit", &format!("{id}-{}-{n:02}", code.to_lowercase()))
                    .expect("valid id"),
                central: id.clone(),
                unit_type,
                label: format!("{code} {n:02}"),
                base: base.id.clone(),
                base_location: base.location,
            }
        })
        .collect();
    DemoCentral {
        id,
        name: row.samu,
        population: row.population,
        programmed_monthly_centavos: (row.custeio_y1_monthly_brl * 100.0).round() as i64,
        municipalities,
        bases,
        units,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ten_services_have_69_vehicles() {
        let centrals = centrals();
        assert_eq!(centrals.len(), 10);
        let units: Vec<_> = centrals.iter().flat_map(|c| &c.units).collect();
        assert_eq!(units.len(), 69);
        assert_eq!(
            units
                .iter()
                .filter(|u| u.unit_type == UnitType::Usa)
                .count(),
            17
        );
        assert_eq!(
            units
                .iter()
                .filter(|u| u.unit_type == UnitType::Usb)
                .count(),
            52
        );
        let bh = centrals
            .iter()
            .find(|c| c.id.as_str() == "3106200")
            .unwrap();
        assert_eq!(bh.units.len(), 32);
        assert_eq!(bh.municipalities.len(), 3);
        assert!(bh
            .bases
            .iter()
            .any(|b| b.name == "Base Ouro Preto" && b.municipality.as_str() == "3146107"));
        assert!(centrals.iter().all(|c| c.bases.iter().all(|b| c
            .municipalities
            .iter()
            .any(|(m, _, _)| *m == b.municipality))));
        let mut ids: Vec<_> = units.iter().map(|u| u.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 69, "unit ids are unique");
        // Every base is within 100 km of its central's seat (Ouro Preto is ~70 km from BH).
        for c in &centrals {
            let seat = c.municipalities[0].2;
            for b in &c.bases {
                assert!(seat.distance_m(b.location) < 100_000.0, "{}", b.name);
            }
        }
    }
}
