//! `/deployments`: each release `infra/deploy.sh` recorded, newest first — its commit,
//! branch, where it got to (building, deploying, healthy, rolled back, failed), when,
//! and its report (the rollback reason, for one that was rolled back). Live: a release
//! that starts or moves on while the page is open shows up without a reload.

use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{fragment, head};
use crate::error::WebError;
use crate::layout::{self, Nav, ago, badge};
use crate::live::LiveQuery;
use crate::session::Session;

/// Deployments the page lists (the newest).
const LISTED: u32 = 50;

/// `GET /deployments`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let (since, rows) = tokio::try_join!(head(&session), rows_markup(&session))?;
    let live = LiveQuery::url(since, Some("deployment.*"), None, None);
    let body = html! {
        h1 { "Deployments" }
        div #deployment-rows hx-get="/deployments/rows" hx-trigger="refresh" data-refresh-on="deployment" data-refresh-ms="300" { (rows) }
    };
    Ok(layout::page(&session, Nav::Deployments, "Deployments", Some(live), body).into_response())
}

/// `GET /deployments/rows`.
pub(crate) async fn rows(session: Session) -> Result<Response, WebError> {
    Ok(fragment(rows_markup(&session).await?))
}

async fn rows_markup(session: &Session) -> Result<Markup, WebError> {
    let list = session
        .client
        .deployments()
        .list()
        .limit(LISTED)
        .send()
        .await?;
    Ok(html! {
        @if list.items.is_empty() {
            (layout::empty("No deployment yet. infra/deploy.sh records each release here when AGENTOPS_URL and AGENTOPS_API_KEY are set (see docs/deploy.md)."))
        } @else {
            table.list {
                thead { tr { th { "Commit" } th { "Status" } th { "Started" } th.wide { "Finished" } th { "Report" } } }
                tbody {
                    @for d in &list.items {
                        tr data-deployment=(d.id) {
                            td {
                                code { (d.git_sha.chars().take(7).collect::<String>()) }
                                @if let Some(branch) = &d.branch { br; small.muted { (branch) } }
                            }
                            td { (badge(d.status.as_str())) }
                            td { (ago(d.created_at)) }
                            td.wide { @if let Some(at) = d.finished_at { (ago(at)) } @else { "—" } }
                            td {
                                @if let Some(report) = d.report.as_deref().filter(|r| !r.trim().is_empty()) {
                                    pre { (report) }
                                } @else { small.muted { "—" } }
                            }
                        }
                    }
                }
            }
        }
    })
}
