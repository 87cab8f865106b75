//! The `personas` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "personas")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub slug: String,
    pub slug_key: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub visibility: String,
    pub status: String,
    pub version: i32,
    pub daily_limit: Option<i32>,
    pub provider_key_sealed: Option<String>,
    pub telegram_token_sealed: Option<String>,
    pub telegram_bot_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
