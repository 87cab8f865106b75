//! The `tasks` table.

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
    pub status: String,
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
