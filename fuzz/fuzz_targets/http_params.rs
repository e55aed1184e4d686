//! What the HTTP server parses from a request before anything else:
//! - the wall feed's query, `GET /ws/wall?central=…&token=…`: decoded as
//!   axum's `Query` does (serde_urlencoded), then the central filter parsed;
//! - the report download, `GET /api/reports/{central}/{YYYY-MM}.{csv|xlsx|pdf}`:
//!   the central id, the file name split at its last dot, the month and the
//!   format, and the attachment's file name built from them.
//!
//! The handlers (`ws_wall` in samu-http's router.rs, `reports::download`) are
//! async and need a running central, so this target repeats their parsing
//! steps, calling the same public parsers they call.
//!
//! Input: three parts separated by `\n`: query string, central segment, file
//! segment. Invariants: an accepted month prints back to its (trimmed) text
//! and parses to itself; an accepted format parses from its extension; an
//! accepted central is the trimmed text; the attachment name is
//! `relatorio-{central}-{YYYY-MM}.{ext}` from the parsed parts, nothing else
//! of the request's text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samu_domain::{CentralId, ValidationError};
use samu_indicators::YearMonth;
use serde::Deserialize;

/// The wall's query parameters, as `samu_http::router::WallParams`.
#[derive(Debug, Deserialize)]
struct WallParams {
    central: Option<String>,
    token: Option<String>,
}

fn wall_query(query: &str) {
    let Ok(params) = serde_urlencoded::from_str::<WallParams>(query) else {
        return;
    };
    let _token = params.token.as_deref().unwrap_or("");
    let filter = params
        .central
        .filter(|c| !c.is_empty())
        .map(|c| CentralId::parse("central", &c).map(|id| (id, c)))
        .transpose();
    match filter {
        Ok(Some((id, raw))) => assert_eq!(id.as_str(), raw.trim()),
        Ok(None) => {}
        Err(e) => assert_eq!(e.field, "central"),
    }
}

fn report_path(central: &str, file: &str) -> Result<String, ValidationError> {
    let central = CentralId::parse("central", central)?;
    let (month, extension) = file.rsplit_once('.').ok_or_else(|| {
        ValidationError::new("file", "expected YYYY-MM.csv, YYYY-MM.xlsx or YYYY-MM.pdf")
    })?;
    let parsed =
        YearMonth::parse(month).map_err(|e| ValidationError::new("month", e.to_string()))?;
    assert_eq!(
        parsed.to_string(),
        month.trim(),
        "an accepted month is written the one way it prints"
    );
    assert_eq!(YearMonth::parse(&parsed.to_string()).unwrap(), parsed);
    let format = samu_report::Format::parse(extension)
        .map_err(|e| ValidationError::new("format", e.message))?;
    assert_eq!(
        samu_report::Format::parse(format.extension()).unwrap(),
        format
    );
    // As the handler names the attachment (samu-http reports.rs).
    let name = format!("relatorio-{central}-{parsed}.{}", format.extension());
    // The name is made of the parsed parts only: nothing of the request's
    // text (spaces, line breaks, quotes) reaches the response header.
    assert_eq!(
        name,
        format!("relatorio-{central}-{parsed}.{}", format.extension()),
        "attachment name"
    );
    Ok(name)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let query = parts.next().unwrap_or("");
    let central = parts.next().unwrap_or("");
    let file = parts.next().unwrap_or("");
    wall_query(query);
    match report_path(central, file) {
        Ok(name) => assert!(name.is_ascii() && !name.contains(['"', '/', '\\'])),
        Err(e) => assert!(["central", "file", "month", "format"].contains(&e.field.as_str())),
    }
});
