//! The `budget_periods` table: a budget's spend and reservations in one period.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "budget_periods")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub budget_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub period_start: DateTimeUtc,
    pub used_tokens: i64,
    pub reserved_tokens: i64,
    pub used_cost_micros: i64,
    pub reserved_cost_micros: i64,
    pub warned: bool,
    pub exhausted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
