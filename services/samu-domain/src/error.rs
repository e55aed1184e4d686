//! Validation errors that name the field they are about.

/// Input that does not make a valid domain value.
///
/// `field` is the path of the offending field as the caller sees it (for
/// example `position.latitude`), so an adapter can report it verbatim in a
/// gRPC `INVALID_ARGUMENT` or an HTTP 400 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong with it, in plain words.
    pub message: String,
}

impl ValidationError {
    /// A new error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, with its field path prefixed by `parent.` — used when a
    /// nested value is validated on its own and then placed in a message.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}
