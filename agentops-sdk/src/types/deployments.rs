//! Deployments: the platform's own releases, each reporting its steps (build, test,
//! deploy, health check) so that operators are told how a release went.

use super::*;

/// Where a deployment is in its life. `healthy`, `rolled_back` and `failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// The release is being built.
    #[default]
    Building,
    /// Its tests run.
    Testing,
    /// It is being rolled out.
    Deploying,
    /// It runs and passed its health check. Final.
    Healthy,
    /// It failed its health check and the previous release was put back. Final.
    RolledBack,
    /// It failed before it went live (or the rollback failed too). Final.
    Failed,
}

wire_names!(DeploymentStatus, "deployment status", {
    Building => "building",
    Testing => "testing",
    Deploying => "deploying",
    Healthy => "healthy",
    RolledBack => "rolled_back",
    Failed => "failed",
});

impl DeploymentStatus {
    /// Whether the deployment is over: its status can no longer change.
    ///
    /// ```
    /// use agentops_sdk::types::DeploymentStatus;
    ///
    /// assert!(DeploymentStatus::RolledBack.is_final());
    /// assert!(!DeploymentStatus::Deploying.is_final());
    /// ```
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Healthy | DeploymentStatus::RolledBack | DeploymentStatus::Failed
        )
    }
}

/// Request to record a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentIn {
    /// The commit being deployed: 7 to 40 hexadecimal characters (kept in lower case).
    pub git_sha: String,
    /// The branch it was built from (1–200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Where it starts (default `building`); a final status records a finished
    /// deployment at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
    /// What happened so far, for people (up to 20,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Free-form JSON object for the caller's own use (up to 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A deployment's next step: absent fields are left as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeploymentPatch {
    /// The new status. Once the deployment is final (`healthy`, `rolled_back`,
    /// `failed`) another status is refused with `409 invalid_transition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
    /// The new report: it replaces the old one whole (up to 20,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// A merge patch for the metadata (a JSON object; `null` removes a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A deployment of the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeploymentOut {
    /// The deployment's id.
    pub id: Uuid,
    /// The commit deployed (lower case).
    pub git_sha: String,
    /// The branch it was built from, if given.
    pub branch: Option<String>,
    /// Where it is.
    pub status: DeploymentStatus,
    /// What happened, if reported.
    pub report: Option<String>,
    /// Caller-defined JSON object.
    pub metadata: Value,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
}
