use std::fmt;

/// Errors of the model crate. Each has a stable `code()` that reaches JavaScript as `err.code`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller passed a value this crate cannot use; the message says what was expected and how to fix it.
    #[error("{what}: expected {expected}, found {found}. {fix}")]
    InvalidArgument { what: String, expected: String, found: String, fix: String },
    /// A device was asked for that this process cannot use.
    #[error("device {requested} is not available: {reason}. Use \"cpu\", or \"auto\" to take a GPU only when one is present")]
    DeviceUnavailable { requested: String, reason: String },
    /// libtorch reported a failure.
    #[error("libtorch failed while {during}")]
    Torch {
        during: String,
        #[source]
        source: tch::TchError,
    },
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } => "TRNET_INVALID_ARGUMENT",
            Error::DeviceUnavailable { .. } => "TRNET_DEVICE_UNAVAILABLE",
            Error::Torch { .. } => "TRNET_TORCH",
        }
    }

    pub fn invalid(what: impl fmt::Display, expected: impl fmt::Display, found: impl fmt::Display, fix: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            what: what.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
            fix: fix.to_string(),
        }
    }

    pub(crate) fn torch(during: impl Into<String>) -> impl FnOnce(tch::TchError) -> Self {
        let during = during.into();
        move |source| Error::Torch { during, source }
    }
}
