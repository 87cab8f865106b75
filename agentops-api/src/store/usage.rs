//! Queries on `usage_records`: the ledger, its listing and its totals.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::usage_record::{self, Column, Model};

/// Which records a listing or a summary covers.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub agent_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub thread_id: Option<Uuid>,
    pub user: Option<String>,
    pub scope: Option<String>,
    pub model: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl UsageFilter {
    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(id) = self.agent_id {
            condition = condition.add(Column::AgentId.eq(id));
        }
        if let Some(id) = self.project_id {
            condition = condition.add(Column::ProjectId.eq(id));
        }
        if let Some(id) = self.task_id {
            condition = condition.add(Column::TaskId.eq(id));
        }
        if let Some(id) = self.thread_id {
            condition = condition.add(Column::ThreadId.eq(id));
        }
        if let Some(user) = &self.user {
            condition = condition.add(Column::UserRef.eq(user.clone()));
        }
        if let Some(scope) = &self.scope {
            condition = condition.add(Column::Scope.eq(scope.clone()));
        }
        if let Some(model) = &self.model {
            condition = condition.add(Column::Model.eq(model.clone()));
        }
        if let Some(outcome) = &self.outcome {
            condition = condition.add(Column::Outcome.eq(outcome.clone()));
        }
        if let Some(from) = self.from {
            condition = condition.add(Column::RecordedAt.gte(from));
        }
        if let Some(to) = self.to {
            condition = condition.add(Column::RecordedAt.lt(to));
        }
        condition
    }
}

/// Inserts a record.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    usage_record::ActiveModel::from(row).insert(conn).await
}

/// The record that settled a reservation.
pub async fn find_by_reservation<C: ConnectionTrait>(
    conn: &C,
    reservation_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    usage_record::Entity::find()
        .filter(Column::ReservationId.eq(reservation_id))
        .one(conn)
        .await
}

/// The record a key made under an idempotency key.
pub async fn find_by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    key_id: Uuid,
    key: &str,
) -> Result<Option<Model>, DbErr> {
    usage_record::Entity::find()
        .filter(Column::RecordedBy.eq(key_id))
        .filter(Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// Records matching `filter`, newest first, before the `before` cursor, at most `limit`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &UsageFilter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = usage_record::Entity::find().filter(filter.condition());
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query.order_by_desc(Column::Id).limit(limit).all(conn).await
}

/// What totals are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Agent,
    Project,
    Model,
    Scope,
    User,
    Day,
}

/// The totals of one group, its key as text (`None`: records without that value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTotals {
    pub key: Option<String>,
    pub calls: i64,
    pub errors: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_micros: i64,
}

#[derive(FromQueryResult)]
struct TextGroup {
    key: Option<String>,
    calls: i64,
    errors: i64,
    tokens_in: i64,
    tokens_out: i64,
    cost_micros: i64,
}

#[derive(FromQueryResult)]
struct IdGroup {
    key: Option<Uuid>,
    calls: i64,
    errors: i64,
    tokens_in: i64,
    tokens_out: i64,
    cost_micros: i64,
}

/// Totals of the records matching `filter`, per group.
pub async fn totals<C: ConnectionTrait>(
    conn: &C,
    filter: &UsageFilter,
    grouping: Grouping,
) -> Result<Vec<GroupTotals>, DbErr> {
    let key: Expr = match grouping {
        Grouping::Agent => Expr::col(Column::AgentId),
        Grouping::Project => Expr::col(Column::ProjectId),
        Grouping::Model => Expr::col(Column::Model),
        Grouping::Scope => Expr::col(Column::Scope),
        Grouping::User => Expr::col(Column::UserRef),
        Grouping::Day => match conn.get_database_backend() {
            DbBackend::Postgres => {
                Expr::cust("to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
            }
            _ => Expr::cust("substr(recorded_at, 1, 10)"),
        },
    };
    let sum = |column: &str| Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS bigint)"));
    let query = usage_record::Entity::find()
        .filter(filter.condition())
        .select_only()
        .expr_as(key.clone(), "key")
        .expr_as(Expr::cust("CAST(COUNT(*) AS bigint)"), "calls")
        .expr_as(
            Expr::cust(
                "CAST(COALESCE(SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END), 0) AS bigint)",
            ),
            "errors",
        )
        .expr_as(sum("tokens_in"), "tokens_in")
        .expr_as(sum("tokens_out"), "tokens_out")
        .expr_as(sum("cost_micros"), "cost_micros")
        .group_by(key);
    Ok(match grouping {
        Grouping::Agent | Grouping::Project => query
            .into_model::<IdGroup>()
            .all(conn)
            .await?
            .into_iter()
            .map(|g| GroupTotals {
                key: g.key.map(|id| id.to_string()),
                calls: g.calls,
                errors: g.errors,
                tokens_in: g.tokens_in,
                tokens_out: g.tokens_out,
                cost_micros: g.cost_micros,
            })
            .collect(),
        _ => query
            .into_model::<TextGroup>()
            .all(conn)
            .await?
            .into_iter()
            .map(|g| GroupTotals {
                key: g.key,
                calls: g.calls,
                errors: g.errors,
                tokens_in: g.tokens_in,
                tokens_out: g.tokens_out,
                cost_micros: g.cost_micros,
            })
            .collect(),
    })
}
