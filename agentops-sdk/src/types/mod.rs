//! Wire types of the AgentOps HTTP API, defined once and shared by the server and the client.
//!
//! The server (`agentops-api`) serialises exactly these types and the client deserialises
//! them, so any disagreement between the two is a compile error rather than a runtime
//! surprise. Request bodies are `*In` (creation) or `*Patch` (partial update) and reject
//! unknown fields; responses are `*Out`. Times are RFC 3339 in UTC; ids are UUIDs.
//!
//! This module has no I/O and is always compiled, even without the `client` feature.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use crate::error_code::{ErrorCode, UnknownErrorCode};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Gives a fieldless wire enum, from one table of its variants and their names on the wire
/// (the `snake_case` names serde uses): `ALL`, `as_str`, `Display` and `FromStr`.
macro_rules! wire_names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!(concat!("unknown ", $what, " `{}` (expected one of: {})"), s, names.join(", "))
                    })
            }
        }
    };
}

/// The body of every error response: `{"error": {"code": "…", "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

impl ErrorBody {
    /// The body of an error answer with `code` (whose [`ErrorCode::status`] is the
    /// answer's status) and no field details.
    ///
    /// ```
    /// use agentops_sdk::types::{ErrorBody, ErrorCode};
    ///
    /// let body = ErrorBody::new(ErrorCode::ThreadNotFound, "no thread 7");
    /// assert_eq!(body.error.code, "thread_not_found");
    /// assert_eq!(body.error.error_code().map(|code| code.status()), Some(404));
    /// ```
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.as_str().to_owned(),
                message: message.into(),
                details: Vec::new(),
            },
        }
    }
}

/// The detail of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `task_not_found` or `validation_failed`
    /// (one of [`ErrorCode`], kept as sent so that a newer server's codes survive).
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// Per-field problems, for validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

impl ErrorDetail {
    /// The code as an [`ErrorCode`], or `None` for one this SDK does not know.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
    }
}

/// One invalid field in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FieldError {
    /// The field's name, dotted for nested fields (`labels.2`).
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

/// One page of a cursor-paginated listing.
///
/// Pass `next_cursor` back as `?cursor=` to get the following page; it is `None` on the
/// last page. Cursors are opaque: do not build or parse them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Page<T> {
    /// The items of this page, newest first.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

mod agents;
mod artifacts;
mod budgets;
mod chat;
mod deployments;
mod events;
mod keys;
mod pairings;
mod personas;
mod previews;
mod projects;
mod schedules;
mod tasks;
mod threads;
mod tools;
mod usage;

pub use agents::*;
pub use artifacts::*;
pub use budgets::*;
pub use chat::*;
pub use deployments::*;
pub use events::*;
pub use keys::*;
pub use pairings::*;
pub use personas::*;
pub use previews::*;
pub use projects::*;
pub use schedules::*;
pub use tasks::*;
pub use threads::*;
pub use tools::*;
pub use usage::*;

/// Answer of `/health` and `/ready`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HealthOut {
    /// `ok`, `degraded` or `unavailable`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Per-dependency state (`database`, later `fanout`, `storage`): `ok` or an error.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub checks: std::collections::BTreeMap<String, String>,
}

/// Integer request fields read the way JSON Schema's `integer` is defined: any number
/// with no fractional part, so `80.0` (as some JSON encoders write whole floats) is 80.
/// A fraction or a value out of the field's range is still refused.
mod whole {
    use serde::de::{Deserializer, Error, Unexpected, Visitor};

    struct Whole;

    impl Visitor<'_> for Whole {
        type Value = i128;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<i128, E> {
            Ok(i128::from(v))
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<i128, E> {
            Ok(i128::from(v))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<i128, E> {
            // Beyond ±2^63 no f64 is a value any field here can hold anyway.
            if v.fract() == 0.0 && v.abs() < 9.3e18 {
                Ok(v as i128)
            } else {
                Err(E::invalid_type(Unexpected::Float(v), &self))
            }
        }
    }

    /// A whole number.
    pub fn required<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
        let v = d.deserialize_any(Whole)?;
        T::try_from(v).map_err(|_| {
            D::Error::invalid_value(
                Unexpected::Other(&format!("integer `{v}`")),
                &"an integer in the field's range",
            )
        })
    }

    /// An optional whole number (`null` or absent is `None`).
    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i128>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        struct Maybe<T>(std::marker::PhantomData<T>);
        impl<'de, T: TryFrom<i128>> Visitor<'de> for Maybe<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer or null")
            }
            fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
                required(d).map(Some)
            }
        }
        d.deserialize_option(Maybe(std::marker::PhantomData))
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize, Debug)]
        struct Probe {
            #[serde(default, deserialize_with = "super::optional")]
            limit: Option<u32>,
            #[serde(deserialize_with = "super::required")]
            id: i64,
        }

        fn probe(json: &str) -> Result<Probe, serde_json::Error> {
            serde_json::from_str(json)
        }

        #[test]
        fn whole_floats_read_as_integers_and_fractions_do_not() {
            let p = probe(r#"{"limit": 80.0, "id": -3}"#).unwrap();
            assert_eq!((p.limit, p.id), (Some(80), -3));
            assert_eq!(probe(r#"{"limit": null, "id": 1e3}"#).unwrap().limit, None);
            assert_eq!(probe(r#"{"id": 7}"#).unwrap().limit, None);
            assert!(probe(r#"{"limit": 1.5, "id": 1}"#).is_err());
            assert!(probe(r#"{"limit": -1, "id": 1}"#).is_err());
            assert!(probe(r#"{"limit": 4294967296, "id": 1}"#).is_err());
            assert!(probe(r#"{"limit": "3", "id": 1}"#).is_err());
            assert!(probe(r#"{"id": 1e30}"#).is_err());
        }

        /// JSON Schema's `integer` includes `185.0`: every integer field of a request
        /// body reads it (a fuzzer found `PATCH /budgets/{id}` refusing it).
        #[test]
        fn request_bodies_read_whole_floats_in_integer_fields() {
            use crate::types::*;
            let patch: BudgetPatch = serde_json::from_str(r#"{"limit_tokens": 185.0}"#).unwrap();
            assert_eq!(patch.limit_tokens, Some(185));
            let usage: UsageIn = serde_json::from_str(
                r#"{"provider":"p","model":"m","tokens_in":1.0,"tokens_out":2.0,"latency_ms":3.0}"#,
            )
            .unwrap();
            assert_eq!(
                (usage.tokens_in, usage.tokens_out, usage.latency_ms),
                (1, 2, 3)
            );
            let session: SessionIn = serde_json::from_str(r#"{"ttl_seconds": 600.0}"#).unwrap();
            assert_eq!(session.ttl_seconds, Some(600));
            let schedule: Result<ScheduleIn, _> = serde_json::from_str(
                r#"{"name":"n","project_id":"00000000-0000-0000-0000-000000000000","task":{"title":"t"},"every_seconds":60.0}"#,
            );
            assert_eq!(schedule.unwrap().every_seconds, Some(60));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str`, `FromStr` and serde agree on every wire name.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
        T: Serialize + serde::de::DeserializeOwned,
    {
        for &value in all {
            let name = value.to_string();
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                Value::String(name.clone())
            );
            assert_eq!(name.parse::<T>().ok(), Some(value));
        }
    }

    #[test]
    fn wire_names_match_serde() {
        round_trips(&Role::ALL);
        round_trips(&TaskStatus::ALL);
        round_trips(&MessageRole::ALL);
        round_trips(&ApprovalStatus::ALL);
        round_trips(&DeploymentStatus::ALL);
        round_trips(&PairingStatus::ALL);
        round_trips(&ToolStatus::ALL);
        round_trips(&ToolRuntime::ALL);
        round_trips(&PreviewStatus::ALL);
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let err = "owner".parse::<Role>().unwrap_err();
        assert_eq!(
            err,
            "unknown role `owner` (expected one of: admin, agent, viewer)"
        );
        assert!("Queued".parse::<TaskStatus>().is_err());
    }
}
