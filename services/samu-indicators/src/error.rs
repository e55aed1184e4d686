//! Errors of this crate: bad settings or a bad month, each naming its field.

/// A setting or an argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct IndicatorError {
    /// Path of the offending setting or argument (`weights.usb`, `month`).
    pub field: String,
    /// What is wrong with it, in plain words.
    pub message: String,
}

impl IndicatorError {
    /// A new error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
