//! The `thread_messages` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "thread_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub thread_id: Uuid,
    pub role: String,
    pub author: Option<String>,
    pub text: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub created_by: Option<Uuid>,
    /// The `Idempotency-Key` it was posted with, unique per `created_by`.
    pub idempotency_key: Option<String>,
    /// A fingerprint of the posting request, to tell a retry from a reuse of the key.
    pub request_hash: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
