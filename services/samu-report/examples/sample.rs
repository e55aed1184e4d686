//! Writes the demo month as CSV, XLSX and PDF into a folder (default
//! `services/samu-report/sample`): `cargo run -p samu-report --example sample [DIR]`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample"));
    std::fs::create_dir_all(&dir)?;
    let report = samu_report::sample::demo_report();
    for format in [
        samu_report::Format::Csv,
        samu_report::Format::Xlsx,
        samu_report::Format::Pdf,
    ] {
        let path = dir.join(format!("relatorio-exemplo.{}", format.extension()));
        std::fs::write(&path, samu_report::render(&report, format)?)?;
        println!("{}", path.display());
    }
    Ok(())
}
