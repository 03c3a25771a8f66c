//! The team server's app state (issue #14 §1–2): users and their roles,
//! login sessions, API tokens and the audit log, in SQLite by default
//! (`WORKSPACE/state.sqlite`) or PostgreSQL (`postgres://…`), through one set
//! of queries (sqlx's `Any` driver) and versioned migrations.
//!
//! Secrets are never stored: passwords as argon2id hashes (PHC strings),
//! session and API tokens as their SHA-256. Times are microseconds since the
//! Unix epoch, passed in by the caller (the crate reads no clock but for
//! argon2's salt and the tokens' randomness).
//!
//! This is the only crate that names the database driver.

mod db;
mod error;
mod secret;

pub use db::{AuditEntry, Backend, Call, SavedView, Session, StateDb, User};
pub use error::{Error, Result};
pub use secret::{hash_password, new_token, token_hash, verify_password};

use serde::Serialize;

/// What a user may do and see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Their own deals.
    Rep,
    /// Their subtree of the manager hierarchy.
    Manager,
    /// Everything, read-only administration.
    Exec,
    /// Everything, and the users, tokens and audit log.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Rep, Role::Manager, Role::Exec, Role::Admin];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Rep => "rep",
            Role::Manager => "manager",
            Role::Exec => "exec",
            Role::Admin => "admin",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether it sees every deal.
    pub fn sees_everything(self) -> bool {
        matches!(self, Role::Exec | Role::Admin)
    }

    /// Whether it may see contacts' names, emails and phones.
    pub fn sees_pii(self) -> bool {
        !matches!(self, Role::Rep)
    }
}
