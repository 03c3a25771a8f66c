//! The database: one set of queries over SQLite or PostgreSQL, and the
//! migrations that bring either to this version's schema.

use crate::{Error, Result, Role};
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// Which database holds the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// One migration: its version and its statements per backend.
struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const USERS: &str = "
CREATE TABLE users (
    login TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    owner_id TEXT,
    password_hash TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    login TEXT NOT NULL REFERENCES users(login),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_login ON sessions(login);
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    login TEXT NOT NULL REFERENCES users(login),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
";

/// The audit log's columns after its sequence (the sequence is numbered
/// per backend).
macro_rules! audit_columns {
    () => {
        ",
    at BIGINT NOT NULL,
    login TEXT,
    role TEXT,
    method TEXT NOT NULL,
    target TEXT NOT NULL,
    scope TEXT,
    status BIGINT NOT NULL,
    detail TEXT
);"
    };
}
const AUDIT_SQLITE: &str = concat!(
    "CREATE TABLE audit (\n    seq INTEGER PRIMARY KEY AUTOINCREMENT",
    audit_columns!()
);
const AUDIT_POSTGRES: &str = concat!(
    "CREATE TABLE audit (\n    seq BIGSERIAL PRIMARY KEY",
    audit_columns!()
);

/// The views users saved (a page and its filters, as the address holds
/// them), numbered per backend.
macro_rules! view_columns {
    () => {
        ",
    login TEXT NOT NULL REFERENCES users(login),
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (login, name)
);"
    };
}
const VIEWS_SQLITE: &str = concat!(
    "CREATE TABLE views (\n    id INTEGER PRIMARY KEY AUTOINCREMENT",
    view_columns!()
);
const VIEWS_POSTGRES: &str = concat!(
    "CREATE TABLE views (\n    id BIGSERIAL PRIMARY KEY",
    view_columns!()
);

/// The forecast calls made in the browser, as the app keeps them (the
/// workspace's submissions journal holds them too: forecasts, backtests and
/// the CLI read it). Days are days since 1970-01-01; amounts are the
/// workspace's currency.
macro_rules! call_columns {
    () => {
        ",
    login TEXT NOT NULL REFERENCES users(login),
    submitter TEXT NOT NULL,
    period TEXT NOT NULL,
    first_day BIGINT NOT NULL,
    last_day BIGINT NOT NULL,
    level TEXT NOT NULL,
    commit_amount DOUBLE PRECISION NOT NULL,
    best_case DOUBLE PRECISION NOT NULL,
    most_likely DOUBLE PRECISION NOT NULL,
    note TEXT,
    submitted_at BIGINT NOT NULL
);"
    };
}
const CALLS_SQLITE: &str = concat!(
    "CREATE TABLE calls (\n    id INTEGER PRIMARY KEY AUTOINCREMENT",
    call_columns!()
);
const CALLS_POSTGRES: &str = concat!(
    "CREATE TABLE calls (\n    id BIGSERIAL PRIMARY KEY",
    call_columns!()
);

/// Every migration, oldest first. A migration is never edited once
/// released: a change is a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: USERS,
        postgres: USERS,
    },
    Migration {
        version: 2,
        sqlite: AUDIT_SQLITE,
        postgres: AUDIT_POSTGRES,
    },
    Migration {
        version: 3,
        sqlite: VIEWS_SQLITE,
        postgres: VIEWS_POSTGRES,
    },
    Migration {
        version: 4,
        sqlite: CALLS_SQLITE,
        postgres: CALLS_POSTGRES,
    },
];

/// A forecast call made in the browser.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// Its number (0 before it is kept).
    pub id: i64,
    /// Who made it (the app's user).
    pub login: String,
    /// The CRM user it is the call of.
    pub submitter: String,
    /// The quarter (2026-Q2).
    pub period: String,
    /// Its first day (days since 1970-01-01).
    pub first_day: i64,
    /// Its last day.
    pub last_day: i64,
    /// own or team.
    pub level: String,
    /// Commit.
    pub commit: f64,
    /// Best case.
    pub best_case: f64,
    /// Most likely.
    pub most_likely: f64,
    /// A note.
    pub note: Option<String>,
    /// When it was made (µs).
    pub submitted_at: i64,
}

/// A view a user saved: a page with its filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedView {
    /// Its number.
    pub id: i64,
    /// Whose.
    pub login: String,
    /// Its name (unique per user).
    pub name: String,
    /// The page and filters (the address after `#`).
    pub path: String,
    /// When it was saved (µs).
    pub created_at: i64,
}

/// A user of the team server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Their login.
    pub login: String,
    /// Their role.
    pub role: Role,
    /// The CRM user they are (their owner id), which their scope follows.
    pub owner_id: Option<String>,
    /// Whether they may no longer log in.
    pub disabled: bool,
    /// When they were added (µs).
    pub created_at: i64,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whose.
    pub user: User,
    /// Its CSRF token, sent back on every state-changing request.
    pub csrf: String,
    /// When it expires (µs).
    pub expires_at: i64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Its number, in order of writing.
    pub seq: i64,
    /// When (µs).
    pub at: i64,
    /// Who (`None`: no session or token).
    pub login: Option<String>,
    /// Their role then.
    pub role: Option<String>,
    /// The HTTP method (or `cli`).
    pub method: String,
    /// What was read or written (the path and query).
    pub target: String,
    /// The scope the answer was computed in.
    pub scope: Option<String>,
    /// The HTTP status.
    pub status: i64,
    /// Anything else worth keeping.
    pub detail: Option<String>,
}

/// The app state database.
#[derive(Debug, Clone)]
pub struct StateDb {
    pool: AnyPool,
    backend: Backend,
}

fn user_of(r: &AnyRow) -> Result<User> {
    let role: String = r.try_get("role")?;
    Ok(User {
        login: r.try_get("login")?,
        role: Role::parse(&role)
            .ok_or_else(|| Error::Invalid(format!("unknown role {role:?} in the users table")))?,
        owner_id: r.try_get("owner_id")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

impl StateDb {
    /// Open (creating a SQLite file if need be) the database at `url`
    /// (`sqlite:PATH` or `postgres://…`) and bring its schema up to date.
    pub async fn open(url: &str) -> Result<StateDb> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(Error::Invalid(format!(
                "{url:?}: the app state is a sqlite:PATH or a postgres://… URL"
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let mut options = AnyPoolOptions::new().max_connections(8);
        if backend == Backend::Sqlite {
            // WAL: readers never wait for the writer; foreign keys on
            options = options.after_connect(|c, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    c.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await?;
        let db = StateDb { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    /// Which backend it is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The schema version it is at.
    pub async fn version(&self) -> Result<i64> {
        let r = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("v")?)
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        let at = self.version().await?;
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        if at > known {
            return Err(Error::Newer { found: at, known });
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > at) {
            let mut tx = self.pool.begin().await?;
            let sql = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::query(stmt).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(m.version)
                .bind(0i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version = m.version, "app state migrated");
        }
        Ok(())
    }

    /// Add a user with an argon2id `password_hash` (see [`crate::hash_password`]).
    pub async fn add_user(
        &self,
        login: &str,
        role: Role,
        owner_id: Option<&str>,
        password_hash: &str,
        now: i64,
    ) -> Result<User> {
        let login = login.trim();
        if login.is_empty() || login.len() > 200 || login.chars().any(char::is_whitespace) {
            return Err(Error::Invalid(format!(
                "login {login:?}: 1 to 200 characters, no spaces"
            )));
        }
        if self.user(login).await?.is_some() {
            return Err(Error::LoginTaken(login.to_string()));
        }
        sqlx::query(
            "INSERT INTO users (login, role, owner_id, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(login)
        .bind(role.as_str())
        .bind(owner_id)
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.user(login)
            .await?
            .ok_or_else(|| Error::NoUser(login.to_string()))
    }

    /// A user by login.
    pub async fn user(&self, login: &str) -> Result<Option<User>> {
        let r = sqlx::query(
            "SELECT login, role, owner_id, disabled, created_at FROM users WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(user_of).transpose()
    }

    /// A user and their password hash, for a login attempt.
    pub async fn credentials(&self, login: &str) -> Result<Option<(User, String)>> {
        let r = sqlx::query(
            "SELECT login, role, owner_id, disabled, created_at, password_hash FROM users WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        match r {
            Some(r) => Ok(Some((user_of(&r)?, r.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    /// Every user, by login.
    pub async fn users(&self) -> Result<Vec<User>> {
        sqlx::query("SELECT login, role, owner_id, disabled, created_at FROM users ORDER BY login")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_of)
            .collect()
    }

    /// Disable (or enable) a user; disabling revokes their sessions and tokens.
    pub async fn set_disabled(&self, login: &str, disabled: bool, now: i64) -> Result<User> {
        let n = sqlx::query("UPDATE users SET disabled = $1 WHERE login = $2")
            .bind(i64::from(disabled))
            .bind(login)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NoUser(login.to_string()));
        }
        if disabled {
            for table in ["sessions", "api_tokens"] {
                sqlx::query(&format!(
                    "UPDATE {table} SET revoked_at = $1 WHERE login = $2 AND revoked_at IS NULL"
                ))
                .bind(now)
                .bind(login)
                .execute(&self.pool)
                .await?;
            }
        }
        self.user(login)
            .await?
            .ok_or_else(|| Error::NoUser(login.to_string()))
    }

    /// Keep a new session (by its token's hash) until `expires_at`.
    pub async fn create_session(
        &self,
        login: &str,
        token_hash: &str,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, login, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(login)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session of a token's hash at `now`: not expired, not
    /// revoked, its user not disabled.
    pub async fn session(&self, token_hash: &str, now: i64) -> Result<Option<Session>> {
        let r = sqlx::query(
            "SELECT u.login, u.role, u.owner_id, u.disabled, u.created_at, s.csrf, s.expires_at
             FROM sessions s JOIN users u ON u.login = s.login
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match r {
            Some(r) => Ok(Some(Session {
                user: user_of(&r)?,
                csrf: r.try_get("csrf")?,
                expires_at: r.try_get("expires_at")?,
            })),
            None => Ok(None),
        }
    }

    /// Revoke a session (logout).
    pub async fn revoke_session(&self, token_hash: &str, now: i64) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }

    /// Revoke every session of a user; how many were live.
    pub async fn revoke_sessions_of(&self, login: &str, now: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE login = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(login)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Keep a new API token (by its hash) for a user.
    pub async fn create_token(
        &self,
        login: &str,
        name: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<()> {
        if self.user(login).await?.is_none() {
            return Err(Error::NoUser(login.to_string()));
        }
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, login, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(login)
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user of a live API token's hash.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<User>> {
        let r = sqlx::query(
            "SELECT u.login, u.role, u.owner_id, u.disabled, u.created_at
             FROM api_tokens t JOIN users u ON u.login = t.login
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = 0",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(user_of).transpose()
    }

    /// Write a line of the audit log.
    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (at, login, role, method, target, scope, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.at)
        .bind(e.login.as_deref())
        .bind(e.role.as_deref())
        .bind(&e.method)
        .bind(&e.target)
        .bind(e.scope.as_deref())
        .bind(e.status)
        .bind(e.detail.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The audit log from `after` (a seq; 0 for the start), oldest first, at
    /// most `limit` lines.
    pub async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, login, role, method, target, scope, status, detail FROM audit
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    login: r.try_get("login")?,
                    role: r.try_get("role")?,
                    method: r.try_get("method")?,
                    target: r.try_get("target")?,
                    scope: r.try_get("scope")?,
                    status: r.try_get("status")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Save a view for `login` (a name already taken: a user error).
    pub async fn save_view(
        &self,
        login: &str,
        name: &str,
        path: &str,
        now: i64,
    ) -> Result<SavedView> {
        if self.views(login).await?.iter().any(|v| v.name == name) {
            return Err(Error::Invalid(format!(
                "a view named {name:?} exists already; delete it first or pick another name"
            )));
        }
        sqlx::query("INSERT INTO views (login, name, path, created_at) VALUES ($1, $2, $3, $4)")
            .bind(login)
            .bind(name)
            .bind(path)
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.views(login)
            .await?
            .into_iter()
            .find(|v| v.name == name)
            .ok_or_else(|| Error::Invalid(format!("the view {name:?} was not kept")))
    }

    /// `login`'s saved views, by name.
    pub async fn views(&self, login: &str) -> Result<Vec<SavedView>> {
        let rows = sqlx::query(
            "SELECT id, login, name, path, created_at FROM views WHERE login = $1 ORDER BY name",
        )
        .bind(login)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SavedView {
                    id: r.try_get("id")?,
                    login: r.try_get("login")?,
                    name: r.try_get("name")?,
                    path: r.try_get("path")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Keep a call made in the browser; its number.
    pub async fn record_call(&self, c: &Call) -> Result<i64> {
        sqlx::query(
            "INSERT INTO calls (login, submitter, period, first_day, last_day, level, commit_amount, best_case, most_likely, note, submitted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&c.login)
        .bind(&c.submitter)
        .bind(&c.period)
        .bind(c.first_day)
        .bind(c.last_day)
        .bind(&c.level)
        .bind(c.commit)
        .bind(c.best_case)
        .bind(c.most_likely)
        .bind(c.note.as_deref())
        .bind(c.submitted_at)
        .execute(&self.pool)
        .await?;
        // (the newest of this user's at this time: what was just inserted)
        let r =
            sqlx::query("SELECT MAX(id) AS id FROM calls WHERE login = $1 AND submitted_at = $2")
                .bind(&c.login)
                .bind(c.submitted_at)
                .fetch_one(&self.pool)
                .await?;
        Ok(r.try_get("id")?)
    }

    /// Forget call `id` (a call the workspace's journal could not keep).
    pub async fn delete_call(&self, id: i64) -> Result<bool> {
        let r = sqlx::query("DELETE FROM calls WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Every call made in the browser, oldest first.
    pub async fn calls(&self) -> Result<Vec<Call>> {
        let rows = sqlx::query(
            "SELECT id, login, submitter, period, first_day, last_day, level, commit_amount, best_case, most_likely, note, submitted_at \
             FROM calls ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Call {
                    id: r.try_get("id")?,
                    login: r.try_get("login")?,
                    submitter: r.try_get("submitter")?,
                    period: r.try_get("period")?,
                    first_day: r.try_get("first_day")?,
                    last_day: r.try_get("last_day")?,
                    level: r.try_get("level")?,
                    commit: r.try_get("commit_amount")?,
                    best_case: r.try_get("best_case")?,
                    most_likely: r.try_get("most_likely")?,
                    note: r.try_get("note")?,
                    submitted_at: r.try_get("submitted_at")?,
                })
            })
            .collect()
    }

    /// Delete `login`'s view `id`; whether there was one (another user's
    /// view is never touched).
    pub async fn delete_view(&self, login: &str, id: i64) -> Result<bool> {
        let r = sqlx::query("DELETE FROM views WHERE id = $1 AND login = $2")
            .bind(id)
            .bind(login)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
