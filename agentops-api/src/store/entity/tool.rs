//! The `tools` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tools")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub version: i32,
    pub description: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub input_schema: Json,
    pub runtime: String,
    pub source: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub tests: Json,
    pub status: String,
    pub author_agent_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub usage_count: i64,
    pub failure_count: i64,
    pub last_error: Option<String>,
    pub last_used_at: Option<DateTimeUtc>,
    pub reviewed_by: Option<String>,
    pub review_reason: Option<String>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub created_by: Option<Uuid>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
