use std::fmt;
use std::path::PathBuf;

/// Why a value was refused, in the four parts every trnet error of that kind gives: what was checked, what
/// was expected, what was found, and how to fix it. The one shape the crates share: each crate's
/// `InvalidArgument` (and the config errors) hold a `Detail`, so the message reads the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub what: String,
    pub expected: String,
    pub found: String,
    pub fix: String,
}

impl Detail {
    pub fn new(what: impl fmt::Display, expected: impl fmt::Display, found: impl fmt::Display, fix: impl fmt::Display) -> Self {
        Detail { what: what.to_string(), expected: expected.to_string(), found: found.to_string(), fix: fix.to_string() }
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}, found {}. {}", self.what, self.expected, self.found, self.fix)
    }
}

/// Errors of the DSP crate. Each has a stable `code()` that reaches JavaScript as `err.code`.
/// Audio errors name the source (a file path, or "<bytes>" for in-memory input).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{source_name}: {problem}. {fix}")]
    Audio { source_name: String, kind: AudioProblem, problem: String, fix: String },
    #[error("{0}")]
    InvalidArgument(Detail),
    #[error("cannot read {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

/// What was wrong with an audio input; also the suffix of its error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioProblem {
    Missing,
    Empty,
    Truncated,
    CorruptHeader,
    UnsupportedCodec,
    NoSamples,
    NonFinite,
    /// A FIFO, device or socket: reading it could block forever or never end.
    NotAFile,
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Audio { kind, .. } => match kind {
                AudioProblem::Missing => "TRNET_AUDIO_MISSING",
                AudioProblem::Empty => "TRNET_AUDIO_EMPTY",
                AudioProblem::Truncated => "TRNET_AUDIO_TRUNCATED",
                AudioProblem::CorruptHeader => "TRNET_AUDIO_CORRUPT",
                AudioProblem::UnsupportedCodec => "TRNET_AUDIO_UNSUPPORTED",
                AudioProblem::NoSamples => "TRNET_AUDIO_NO_SAMPLES",
                AudioProblem::NonFinite => "TRNET_AUDIO_NON_FINITE",
                AudioProblem::NotAFile => "TRNET_AUDIO_NOT_A_FILE",
            },
            Error::InvalidArgument(_) => "TRNET_INVALID_ARGUMENT",
            Error::Io { .. } | Error::Write { .. } => "TRNET_IO",
        }
    }

    pub fn invalid(what: impl std::fmt::Display, expected: impl std::fmt::Display, found: impl std::fmt::Display, fix: impl std::fmt::Display) -> Self {
        Error::InvalidArgument(Detail::new(what, expected, found, fix))
    }

    pub fn audio(source_name: impl Into<String>, kind: AudioProblem, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Audio { source_name: source_name.into(), kind, problem: problem.into(), fix: fix.into() }
    }
}
