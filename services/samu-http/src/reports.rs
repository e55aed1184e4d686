//! `GET /api/reports/{central}/{YYYY-MM}.{csv|xlsx|pdf}`: the monthly
//! report, for managers (gestor) and admins.

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use samu_domain::{CentralId, ValidationError};
use samu_indicators::YearMonth;
use samu_runtime::reporting::{monthly_report, ReportingError};
use serde::Deserialize;

use crate::{error::ApiError, router::HttpState};

/// `?token=` for browsers that cannot set a header on a download link.
#[derive(Debug, Deserialize)]
pub struct TokenParam {
    token: Option<String>,
}

/// Authenticates a request by `Authorization: Bearer` or `?token=`.
pub(crate) fn credential(
    state: &HttpState,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<samu_store::Credential, ApiError> {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    state
        .central
        .authenticate(header_token.or(query_token).unwrap_or(""))
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
}

/// The report download.
pub async fn download(
    State(state): State<HttpState>,
    Path((central, file)): Path<(String, String)>,
    Query(params): Query<TokenParam>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = credential(&state, &headers, params.token.as_deref())?;
    if !samu_runtime::access::Rpc::Report.allows(who.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the {} role may not download reports", who.role),
        ));
    }
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
    let bytes = samu_report::render(&report, format).map_err(|e| {
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
