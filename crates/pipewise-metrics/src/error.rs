//! One error type, split the way callers must treat it: a user's mistake
//! (a definition that does not validate, a breakdown a metric's rows do not
//! have: exit 2 with a hint, HTTP 4xx) or a failure that is not theirs (the
//! engine failing, a fault in pipewise: exit 1 with the cause kept, 5xx).

use pipewise_engine::EngineError;
use std::sync::Arc;

/// Why a metric could not be loaded or evaluated; [`MetricError::is_user_error`] says whose it is.
#[derive(Debug, Clone, thiserror::Error)]
#[allow(missing_docs)] // the variants are documented; their fields are named for what they hold
pub enum MetricError {
    /// A definition that does not parse or validate, or whose SQL the engine
    /// rejects: the file and what to change.
    #[error("{file}: {message}")]
    Definition { file: String, message: String },
    /// No metric of that name.
    #[error("no metric named {name:?}; `pipewise metrics` lists them")]
    Unknown { name: String },
    /// A breakdown the metric cannot give (an unknown dimension, leads by
    /// stage, quota by product).
    #[error("--by {dimension:?}: {reason}")]
    Dimension { dimension: String, reason: String },
    /// The engine failed running what a metric compiled to.
    #[error("{context}")]
    Engine {
        context: String,
        #[source]
        source: Arc<EngineError>,
    },
    /// A result pipewise did not expect of its own SQL: a bug in pipewise.
    #[error("internal error: {0}")]
    Internal(String),
    /// A metric file or folder that cannot be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl MetricError {
    /// Is this the user's to fix (exit 2, HTTP 4xx) rather than an engine or
    /// internal failure (exit 1, HTTP 5xx)?
    pub fn is_user_error(&self) -> bool {
        match self {
            MetricError::Definition { .. }
            | MetricError::Unknown { .. }
            | MetricError::Dimension { .. } => true,
            MetricError::Engine { .. } | MetricError::Internal(_) | MetricError::Io { .. } => false,
        }
    }

    /// An engine failure while doing `context`.
    pub(crate) fn engine(context: impl Into<String>, e: EngineError) -> MetricError {
        MetricError::Engine {
            context: context.into(),
            source: Arc::new(e),
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: std::io::Error) -> MetricError {
        MetricError::Io {
            path: path.display().to_string(),
            source: Arc::new(e),
        }
    }
}
