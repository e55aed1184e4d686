//! The monthly indicator report of a central ("relatório de acompanhamento"
//! of Resolução SES/MG nº 6.953/2019) in three formats. No database access:
//! the caller computes a [`MonthlyReport`] (with `samu-indicators`) and asks
//! for bytes.
//!
//! Every renderer prints the same numbers from the same struct; the tests
//! read the CSV and the XLSX back and compare them with it.
//!
//! # Layout
//! - [`model`]: [`MonthlyReport`] and what it holds besides the indicators
//!   ([`CentralInfo`], [`ResponseTimes`]).
//! - [`csv_out`]: [`render_csv`], one `;`-separated table with a `secao`
//!   column, decimal comma, UTF-8 with BOM.
//! - [`xlsx`]: [`render_xlsx`], four sheets (Indicadores, Unidades-dia,
//!   Equipe mínima, Tempos-resposta), numbers stored as numbers.
//! - [`pdf`]: [`render_pdf`], one readable Portuguese document (krilla, with
//!   DejaVu Sans Condensed embedded).
//! - [`pt`]: Portuguese formatting: dd/mm/aaaa, `96,77 %`, `R$ 1.234,56`.
//! - [`sample`]: a demo month computed from made-up history (tests, sample files).
#![forbid(unsafe_code)]

pub mod csv_out;
mod facts;
pub mod model;
pub mod pdf;
pub mod pt;
pub mod sample;
pub mod xlsx;

pub use csv_out::{render_csv, CSV_COLUMNS};
pub use model::{CentralInfo, MonthlyReport, ResponseInterval, ResponseTimes, TimeFigure};
pub use pdf::render_pdf;
pub use xlsx::render_xlsx;

/// A report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing the CSV failed.
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
    /// Building the XLSX failed.
    #[error("building the XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// Building the PDF failed.
    #[error("building the PDF: {0}")]
    Pdf(String),
}

/// A report format, as the `report --format` option names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `csv`.
    Csv,
    /// `xlsx`.
    Xlsx,
    /// `pdf`.
    Pdf,
}

impl Format {
    /// Parses `csv`, `xlsx` or `pdf`.
    ///
    /// # Errors
    /// When the name is none of them.
    pub fn parse(raw: &str) -> Result<Self, samu_domain::ValidationError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            "pdf" => Ok(Format::Pdf),
            _ => Err(samu_domain::ValidationError::new(
                "format",
                format!("{raw:?} is not a report format (csv, xlsx, pdf)"),
            )),
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Pdf => "pdf",
        }
    }

    /// The HTTP content type, for the gestor's download.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Pdf => "application/pdf",
        }
    }
}

/// Renders `report` in `format`.
///
/// # Errors
/// As the renderer of that format.
pub fn render(report: &MonthlyReport, format: Format) -> Result<Vec<u8>, ReportError> {
    match format {
        Format::Csv => render_csv(report),
        Format::Xlsx => render_xlsx(report),
        Format::Pdf => render_pdf(report),
    }
}
