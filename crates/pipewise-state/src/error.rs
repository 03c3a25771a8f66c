//! The state database's errors.

/// What went wrong with the app state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused or failed a statement.
    #[error("the app state database: {0}")]
    Db(#[from] sqlx::Error),
    /// A login already taken.
    #[error("user {0:?} exists already")]
    LoginTaken(String),
    /// No such user.
    #[error("no user {0:?}")]
    NoUser(String),
    /// A value the caller must fix.
    #[error("{0}")]
    Invalid(String),
    /// Password hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// The database was written by a newer pipewise.
    #[error(
        "the app state database is at schema version {found}; this pipewise knows up to {known}: upgrade pipewise"
    )]
    Newer {
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the caller caused it (a 4xx, an exit code 2).
    pub fn is_user(&self) -> bool {
        matches!(
            self,
            Error::LoginTaken(_) | Error::NoUser(_) | Error::Invalid(_) | Error::Newer { .. }
        )
    }
}
