//! The `previews` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "previews")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub task_id: Uuid,
    pub project_id: Uuid,
    pub short_id: String,
    pub token: String,
    pub upstream: String,
    pub port: Option<i32>,
    pub stopped: bool,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub stopped_at: Option<DateTimeUtc>,
    /// Whether its expiry was told (`preview.expired`).
    pub expiry_told: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
