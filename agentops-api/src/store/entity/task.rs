//! The `tasks` table.

use agentops_sdk::types::TaskStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub kind: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub labels: Json,
    pub priority: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub input: Json,
    pub status: Status,
    pub attempts: i32,
    pub max_attempts: i32,
    pub agent_id: Option<Uuid>,
    pub claim_token: Option<Uuid>,
    /// The `Idempotency-Key` of the claim that holds the lease, if it sent one.
    pub claim_key: Option<String>,
    pub lease_seconds: Option<i32>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub not_before: Option<DateTimeUtc>,
    pub progress: Option<f64>,
    pub progress_message: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub result: Option<Json>,
    pub error: Option<String>,
    pub block_reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A task's status as stored: one text value per [`TaskStatus`] (the wire names), read
/// and written as the enum, so no other value can reach a row or come out of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Status {
    /// See [`TaskStatus::Waiting`].
    #[sea_orm(string_value = "waiting")]
    Waiting,
    /// See [`TaskStatus::Queued`].
    #[sea_orm(string_value = "queued")]
    Queued,
    /// See [`TaskStatus::Running`].
    #[sea_orm(string_value = "running")]
    Running,
    /// See [`TaskStatus::Blocked`].
    #[sea_orm(string_value = "blocked")]
    Blocked,
    /// See [`TaskStatus::Completed`].
    #[sea_orm(string_value = "completed")]
    Completed,
    /// See [`TaskStatus::Failed`].
    #[sea_orm(string_value = "failed")]
    Failed,
    /// See [`TaskStatus::Cancelled`].
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl From<Status> for TaskStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Waiting => TaskStatus::Waiting,
            Status::Queued => TaskStatus::Queued,
            Status::Running => TaskStatus::Running,
            Status::Blocked => TaskStatus::Blocked,
            Status::Completed => TaskStatus::Completed,
            Status::Failed => TaskStatus::Failed,
            Status::Cancelled => TaskStatus::Cancelled,
        }
    }
}

impl From<TaskStatus> for Status {
    fn from(status: TaskStatus) -> Self {
        match status {
            TaskStatus::Waiting => Status::Waiting,
            TaskStatus::Queued => Status::Queued,
            TaskStatus::Running => Status::Running,
            TaskStatus::Blocked => Status::Blocked,
            TaskStatus::Completed => Status::Completed,
            TaskStatus::Failed => Status::Failed,
            TaskStatus::Cancelled => Status::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    #[test]
    fn stored_names_are_the_wire_names() {
        for status in TaskStatus::ALL {
            let stored = Status::from(status);
            assert_eq!(stored.to_value(), status.as_str());
            assert_eq!(TaskStatus::from(stored), status);
        }
    }
}
