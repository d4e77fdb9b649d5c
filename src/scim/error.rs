//! SCIM error responses (RFC 7644 §3.12): an HTTP status, an optional
//! `scimType` keyword and a detail a person can act on. Every refusal of the
//! service is one of these; the HTTP layer renders it.

use serde_json::{Value, json};
use std::fmt;

/// The `scimType` keywords of RFC 7644 §3.12 that this service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
}

impl ScimType {
    pub fn keyword(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
        }
    }

    /// The status RFC 7644 gives each keyword.
    fn status(self) -> u16 {
        match self {
            Self::Uniqueness => 409,
            _ => 400,
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    /// A 400 or 409 with `scim_type` (its status per RFC 7644).
    pub fn new(scim_type: ScimType, detail: impl Into<String>) -> ScimError {
        ScimError {
            status: scim_type.status(),
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// A status without a `scimType` (401, 404, 412, 413, 500, …).
    pub fn status(status: u16, detail: impl Into<String>) -> ScimError {
        ScimError {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    pub fn not_found(what: impl fmt::Display) -> ScimError {
        ScimError::status(404, format!("{what} not found"))
    }

    /// The error body (`application/scim+json`).
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = t.keyword().into();
        }
        body
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scim_type {
            Some(t) => write!(f, "{} {}: {}", self.status, t.keyword(), self.detail),
            None => write!(f, "{}: {}", self.status, self.detail),
        }
    }
}

impl std::error::Error for ScimError {}

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_the_status_as_a_string_and_the_keyword() {
        let e = ScimError::new(ScimType::Uniqueness, "userName \"bob\" is taken");
        assert_eq!(
            e.to_json(),
            json!({"schemas": [ERROR_SCHEMA], "status": "409", "scimType": "uniqueness",
                   "detail": "userName \"bob\" is taken"})
        );
        assert_eq!(ScimError::not_found("User 7").to_json()["status"], "404");
        assert!(
            ScimError::not_found("User 7")
                .to_json()
                .get("scimType")
                .is_none()
        );
    }
}
