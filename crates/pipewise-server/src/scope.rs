//! Row-level scope: whose deals a user sees. A rep sees their own (the CRM
//! user they are mapped to), a manager their subtree of the manager
//! hierarchy (the workspace's `users` table), exec and admin everything.
//! Every number is computed inside the scope, never filtered afterwards.

use pipewise_forecast::groups::Org;
use pipewise_state::{Role, User};
use std::collections::BTreeSet;

/// Whose deals a request sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every deal.
    Everything,
    /// The deals these CRM users own (none for a user mapped to no one).
    Owners(BTreeSet<String>),
}

impl Scope {
    /// The scope of `user` in `org`.
    pub fn of(user: &User, org: &Org) -> Scope {
        if user.role.sees_everything() {
            return Scope::Everything;
        }
        let Some(owner) = &user.owner_id else {
            return Scope::Owners(BTreeSet::new());
        };
        match user.role {
            Role::Manager => Scope::Owners(org.subtree(owner)),
            _ => Scope::Owners(BTreeSet::from([owner.clone()])),
        }
    }

    /// Narrowed to the subtree under `under` (a team filter): `None` when
    /// `under` is not someone in this scope (nobody widens their own).
    pub fn narrow(&self, under: &str, org: &Org) -> Option<Scope> {
        org.person(under)?;
        let sub = org.subtree(under);
        match self {
            Scope::Everything => Some(Scope::Owners(sub)),
            Scope::Owners(o) if o.contains(under) => {
                Some(Scope::Owners(sub.intersection(o).cloned().collect()))
            }
            Scope::Owners(_) => None,
        }
    }

    /// Whether a deal owned by `owner` is in it.
    pub fn admits(&self, owner: Option<&str>) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Owners(o) => owner.is_some_and(|x| o.contains(x)),
        }
    }

    /// In words, for the audit log and `/api/me`.
    pub fn describe(&self) -> String {
        match self {
            Scope::Everything => "everything".into(),
            Scope::Owners(o) if o.is_empty() => "nothing (no CRM user)".into(),
            Scope::Owners(o) if o.len() <= 3 => {
                format!(
                    "owners {}",
                    o.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            }
            Scope::Owners(o) => format!("{} owners", o.len()),
        }
    }
}
