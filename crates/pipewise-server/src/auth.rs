//! Who is asking: a session cookie (from `POST /api/session`) or an API
//! token (`Authorization: Bearer pw_…`). The [`authenticate`] middleware
//! resolves the [`Principal`] of every `/api` request but the public ones,
//! refuses a state-changing session request without its CSRF token, and
//! writes the audit log line of every request after it is answered.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pipewise_state::{AuditEntry, User, token_hash};
use std::collections::HashMap;

/// The session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "pipewise_session";
/// The CSRF cookie (readable by the page, sent back as `X-CSRF-Token`).
pub const CSRF_COOKIE: &str = "pipewise_csrf";
/// The CSRF header.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A session cookie, with the session's CSRF token.
    Session {
        /// The token's hash (to revoke it).
        token_hash: String,
        /// Its CSRF token.
        csrf: String,
    },
    /// An API token (no CSRF: it is not sent by browsers on their own).
    Token,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who.
    pub user: User,
    /// How.
    pub via: Via,
}

/// What a handler tells the audit log about the scope it answered in.
#[derive(Debug, Clone)]
pub struct AuditScope(pub String);

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Microseconds since the Unix epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Routes that answer without a principal.
fn is_public(method: &Method, path: &str) -> bool {
    (method == Method::POST && path == "/api/session")
        || (method == Method::GET && (path == "/api/openapi.json" || path == "/api/health"))
        || !path.starts_with("/api/")
}

async fn principal(app: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthenticated)?;
        return Ok(app
            .db
            .token_user(&token_hash(token.trim()))
            .await?
            .map(|user| Principal {
                user,
                via: Via::Token,
            }));
    }
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    Ok(app.db.session(&hash, now()).await?.map(|s| Principal {
        user: s.user,
        via: Via::Session {
            token_hash: hash,
            csrf: s.csrf,
        },
    }))
}

/// Resolve the principal, check CSRF, answer, audit.
pub async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map_or(path.clone(), |p| p.to_string());
    let public = is_public(&method, &path);
    let who = match principal(&app, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let refused = match &who {
        None if !public => Some(ApiError::unauthenticated()),
        Some(Principal {
            via: Via::Session { csrf, .. },
            ..
        }) if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
            && req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok())
                != Some(csrf.as_str()) =>
        {
            Some(ApiError::csrf())
        }
        _ => None,
    };
    let response = match refused {
        Some(e) => e.into_response(),
        None => {
            if let Some(p) = &who {
                req.extensions_mut().insert(p.clone());
            }
            next.run(req).await
        }
    };
    if path.starts_with("/api/") && path != "/api/health" {
        let scope = response
            .extensions()
            .get::<AuditScope>()
            .map(|s| s.0.clone());
        // a login names its user in the response's extensions
        let user = who
            .as_ref()
            .map(|p| p.user.clone())
            .or_else(|| response.extensions().get::<User>().cloned());
        let entry = AuditEntry {
            seq: 0,
            at: now(),
            login: user.as_ref().map(|u| u.login.clone()),
            role: user.as_ref().map(|u| u.role.as_str().to_string()),
            method: method.to_string(),
            target,
            scope,
            status: i64::from(response.status().as_u16()),
            detail: None,
        };
        if let Err(e) = app.db.audit(&entry).await {
            // an unaudited answer is not given
            return ApiError::internal(format!("audit log: {e}")).into_response();
        }
    }
    response
}

/// Failed logins per login and per client, in a sliding window: past
/// `LIMIT` in `WINDOW`, logins are refused until the oldest ages out.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: HashMap<String, Vec<i64>>,
}

impl LoginLimiter {
    /// Failures allowed per key in the window.
    pub const LIMIT: usize = 5;
    /// The window (µs): 15 minutes.
    pub const WINDOW: i64 = 15 * 60 * 1_000_000;

    /// Seconds to wait before `key` may try again (`None`: it may now).
    pub fn wait(&mut self, key: &str, now: i64) -> Option<u64> {
        let f = self.failures.get_mut(key)?;
        f.retain(|&t| now - t < Self::WINDOW);
        if f.len() < Self::LIMIT {
            return None;
        }
        let oldest = f.iter().copied().min().unwrap_or(now);
        Some(((oldest + Self::WINDOW - now) / 1_000_000).max(1) as u64)
    }

    /// Count a failure of `key`.
    pub fn fail(&mut self, key: &str, now: i64) {
        self.failures.entry(key.to_string()).or_default().push(now);
    }

    /// Forget `key`'s failures (a good login).
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_opens_again_as_failures_age_out() {
        let mut l = LoginLimiter::default();
        let s = 1_000_000;
        for i in 0..5 {
            assert_eq!(l.wait("ana", i * s), None);
            l.fail("ana", i * s);
        }
        // the first failure (at 0) ages out at 900 s
        assert_eq!(l.wait("ana", 10 * s), Some(890));
        assert_eq!(l.wait("bob", 10 * s), None);
        assert_eq!(l.wait("ana", 900 * s), None);
        l.clear("ana");
        assert_eq!(l.wait("ana", 901 * s), None);
    }

    #[test]
    fn cookies_are_read_from_every_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; pipewise_session=tok".parse().unwrap());
        h.append(header::COOKIE, "pipewise_csrf=c".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, CSRF_COOKIE).as_deref(), Some("c"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
