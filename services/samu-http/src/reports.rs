//! `GET /api/reports/{central}/{YYYY-MM}.{csv|xlsx|pdf}`: the monthly
//! report, for managers (gestor) and admins.

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use samu_domain::{CentralId, ValidationError};
use samu_indicators::YearMonth;
use samu_runtime::{
    access::Rpc,
    reporting::{monthly_report, ReportingError},
};
use serde::Deserialize;

use crate::{error::ApiError, router::HttpState};

/// `?token=` for browsers that cannot set a header on a download link.
#[derive(Debug, Deserialize)]
pub struct TokenParam {
    token: Option<String>,
}

/// The bearer token of `Authorization: Bearer`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Authenticates a request by `Authorization: Bearer` or `?token=`, spends
/// one call of the caller's rate limit and checks the role table: the same
/// [`samu_runtime::Central::authorize`] as gRPC, so a person's calls through
/// both doors share one limit.
pub(crate) fn authorize(
    state: &HttpState,
    headers: &HeaderMap,
    query_token: Option<&str>,
    rpc: Rpc,
) -> Result<samu_store::Credential, ApiError> {
    Ok(state
        .central
        .authorize(bearer(headers).or(query_token).unwrap_or(""), rpc)?)
}

/// The report download.
pub async fn download(
    State(state): State<HttpState>,
    Path((central, file)): Path<(String, String)>,
    Query(params): Query<TokenParam>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&state, &headers, params.token.as_deref(), Rpc::Report)?;
    let central = CentralId::parse("central", &central)?;
    let (month, extension) = file.rsplit_once('.').ok_or_else(|| {
        ValidationError::new("file", "expected YYYY-MM.csv, YYYY-MM.xlsx or YYYY-MM.pdf")
    })?;
    let month =
        YearMonth::parse(month).map_err(|e| ValidationError::new("month", e.to_string()))?;
    let format = samu_report::Format::parse(extension)
        .map_err(|e| ValidationError::new("format", e.message))?;
    let report = monthly_report(state.central.store(), &central, month)
        .await
        .map_err(|e| match e {
            ReportingError::UnknownCentral(_) => {
                ApiError::new(StatusCode::NOT_FOUND, e.to_string())
            }
            other => {
                tracing::error!(error = %other, "report failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the report could not be computed; see the server log",
                )
            }
        })?;
    // Off the HTTP thread: a PDF takes long enough to hold up the walls.
    let rendered = tokio::task::spawn_blocking(move || samu_report::render(&report, format))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let bytes = rendered.map_err(|e| {
        tracing::error!(error = %e, "report rendering failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the report could not be rendered",
        )
    })?;
    tracing::info!(central = %central, month = %month, credential = %who.id, "report downloaded");
    let name = format!("relatorio-{central}-{month}.{}", format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
