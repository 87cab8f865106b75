//! The `usage_records` table: the token ledger.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub recorded_at: DateTimeUtc,
    pub agent_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub thread_id: Option<Uuid>,
    pub user_ref: Option<String>,
    pub scope: String,
    pub kind: String,
    pub provider: String,
    pub model: String,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_micros: Option<i64>,
    pub latency_ms: i64,
    pub outcome: String,
    pub error: Option<String>,
    pub reservation_id: Option<Uuid>,
    pub recorded_by: Option<Uuid>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
