//! Who a request acts as: a user's [`Role`] and the [`Tenant`] — the one
//! business a CRM request may read or change. The extractor that makes a
//! `Tenant` lives in `http::extract`; the tenant queries in `db::crm` take
//! nothing else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a user may do. Admins operate the platform; owners and agents belong
/// to exactly one business (owners may change it, agents only read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Owner,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            "agent" => Ok(Role::Agent),
            other => Err(format!("{other:?} is not a role (admin, owner, agent)")),
        }
    }
}

/// The caller and the one business this request may read or change. Its
/// fields are private and its constructor is crate-only: the one place that
/// calls it is the request extractor, so every tenant query is scoped by a
/// business the caller is entitled to.
#[derive(Debug, Clone)]
pub struct Tenant {
    user_id: i64,
    role: Role,
    business_id: i64,
}

/// An action the caller's role does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub &'static str);

impl Tenant {
    /// Only `http::extract` calls this, after checking the caller's session
    /// and their right to act for `business_id`.
    pub(crate) fn new(user_id: i64, role: Role, business_id: i64) -> Self {
        Self {
            user_id,
            role,
            business_id,
        }
    }

    pub fn business_id(&self) -> i64 {
        self.business_id
    }

    pub fn user_id(&self) -> i64 {
        self.user_id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Admins and owners may change things; agents only read.
    pub fn require_write(&self) -> Result<(), Forbidden> {
        match self.role {
            Role::Admin | Role::Owner => Ok(()),
            Role::Agent => Err(Forbidden(
                "agents have read-only access; ask the business owner",
            )),
        }
    }
}
