//! Queries on `event_cursors`.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryOrder};

use super::entity::event_cursor;

/// One cursor.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    name: &str,
) -> Result<Option<event_cursor::Model>, DbErr> {
    event_cursor::Entity::find_by_id(name.to_owned())
        .one(conn)
        .await
}

/// Every cursor, by name.
pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<event_cursor::Model>, DbErr> {
    event_cursor::Entity::find()
        .order_by_asc(event_cursor::Column::Name)
        .all(conn)
        .await
}

/// Creates the cursor `row.name`, or moves it forward to `row.last_id`: a cursor never
/// goes back, so a replica that saves late cannot undo a newer save. `updated_at` and
/// `updated_by` are written either way. Returns the cursor as stored.
pub async fn advance<C: ConnectionTrait>(
    conn: &C,
    row: event_cursor::Model,
) -> Result<event_cursor::Model, DbErr> {
    let name = row.name.clone();
    event_cursor::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::column(event_cursor::Column::Name)
                .value(
                    event_cursor::Column::LastId,
                    Expr::cust(
                        "CASE WHEN excluded.last_id > event_cursors.last_id \
                         THEN excluded.last_id ELSE event_cursors.last_id END",
                    ),
                )
                .update_columns([
                    event_cursor::Column::UpdatedBy,
                    event_cursor::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    find(conn, &name)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("event cursor {name} after saving it")))
}

/// Deletes a cursor; whether it existed.
pub async fn delete<C: ConnectionTrait>(conn: &C, name: &str) -> Result<bool, DbErr> {
    let result = event_cursor::Entity::delete_by_id(name.to_owned())
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}
