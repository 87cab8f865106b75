//! `/usage`: what agents spent (tokens, calls, cost) today and over the last week, per
//! model, agent and scope, and where each budget stands.

use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use maud::{Markup, html};

use agentops_sdk::types::{UsageGroupBy, UsageSummary};

use super::head;
use crate::error::WebError;
use crate::layout::{self, Nav, ago, number};
use crate::live::LiveQuery;
use crate::session::Session;

/// `GET /usage`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let client = &session.client;
    let usage = client.usage();
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or_else(Utc::now, |t| t.and_utc());
    let week = today - Duration::days(6);
    let (since, by_model, by_agent, by_scope, by_day, budgets) = tokio::try_join!(
        head(&session),
        async {
            Ok(usage
                .summary(UsageGroupBy::Model)
                .from(today)
                .send()
                .await?)
        },
        async {
            Ok(usage
                .summary(UsageGroupBy::Agent)
                .from(today)
                .send()
                .await?)
        },
        async {
            Ok(usage
                .summary(UsageGroupBy::Scope)
                .from(today)
                .send()
                .await?)
        },
        async { Ok(usage.summary(UsageGroupBy::Day).from(week).send().await?) },
        async { Ok(client.budgets().list().limit(100).send().await?) },
    )?;
    let live = LiveQuery::url(since, Some("budget.*"), None, None);
    let body = html! {
        h1 { "Usage" }
        section.cards aria-label="Today" {
            div.card { span.count { (number(by_model.total.tokens())) } small { "tokens today (UTC)" } }
            div.card { span.count { (number(by_model.total.calls)) } small { "LLM calls today" } }
            div.card { span.count { (format!("${:.2}", by_model.total.cost_usd)) } small { "cost today" } }
            div.card { span.count { (number(by_model.total.errors)) } small { "failed calls today" } }
        }
        div.grid {
            section.panel { h2 { "Today by model" } (table(&by_model, "Model")) }
            section.panel { h2 { "Today by agent" } (table(&by_agent, "Agent")) }
            section.panel { h2 { "Today by scope" } (table(&by_scope, "Scope")) }
            section.panel { h2 { "The last 7 days" } (table(&by_day, "Day")) }
        }
        section.panel {
            h2 { "Budgets" }
            @if budgets.items.is_empty() { (layout::empty("No budget is set (POST /api/v1/budgets).")) }
            @else {
                table.list {
                    thead { tr { th { "Budget" } th { "Applies to" } th { "Used" } th.wide { "Reserved" } th { "Limit" } th {} th.wide { "Starts over" } } }
                    tbody {
                        @for b in &budgets.items {
                            tr {
                                td { (b.name) @if !b.enabled { " " small.muted { "(off)" } } }
                                td { (b.applies_to) @if let Some(s) = &b.subject { " " code { (s) } } " · " (b.period) }
                                td { (number(b.current.used_tokens)) }
                                td.wide { (number(b.current.reserved_tokens)) }
                                td { (number(b.limit_tokens)) }
                                td { meter min="0" max=(b.limit_tokens.max(1)) high=((b.limit_tokens as f64 * 0.8) as u64) value=(b.current.used_tokens.min(b.limit_tokens)) {} }
                                td.wide { (ago(b.current.resets_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, Nav::Usage, "Usage", Some(live), body).into_response())
}

fn table(summary: &UsageSummary, label: &str) -> Markup {
    html! {
        @if summary.groups.is_empty() { (layout::empty("Nothing recorded.")) }
        @else {
            table.compact {
                thead { tr { th { (label) } th { "Calls" } th { "Tokens" } th { "Cost" } } }
                tbody {
                    @for g in &summary.groups {
                        tr {
                            td { @if g.key.is_empty() { "—" } @else { (g.key) } }
                            td { (number(g.totals.calls)) }
                            td { (number(g.totals.tokens())) }
                            td { (format!("${:.4}", g.totals.cost_usd)) }
                        }
                    }
                }
            }
        }
    }
}
