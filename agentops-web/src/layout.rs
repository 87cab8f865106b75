//! The page shell (navigation, assets, the live stream) and small pieces every page uses.

use axum::response::Html;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use uuid::Uuid;

use agentops_sdk::types::TaskStatus;

use crate::assets;
use crate::session::{Session, csrf_field};

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Tasks,
    Projects,
    Agents,
    Events,
    Approvals,
    Tools,
    Schedules,
    Deployments,
    Usage,
    Chat,
    Chats,
    Personas,
    Keys,
}

/// htmx settings: no inline indicator styles (the CSP forbids inline style) and no
/// `eval` (the CSP forbids it too).
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}"#;

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            meta name="htmx-config" content=(HTMX_CONFIG);
            title { (title) " · AgentOps" }
            link rel="icon" type="image/svg+xml" href=(assets::url("icon.svg"));
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("htmx.min.js")) defer {}
            script src=(assets::url("htmx-ext-sse.js")) defer {}
            script src=(assets::url("app.js")) defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub(crate) fn bare(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body.bare { main { (body) } }
            }
        }
        .into_string(),
    )
}

/// A page of the signed-in dashboard. `live` is the `/live?…` stream the page listens
/// to, if any.
pub(crate) fn page(
    session: &Session,
    nav: Nav,
    title: &str,
    live: Option<String>,
    body: Markup,
) -> Html<String> {
    let entries = [
        (Nav::Overview, "/", "Overview"),
        (Nav::Tasks, "/tasks", "Tasks"),
        (Nav::Projects, "/projects", "Projects"),
        (Nav::Agents, "/agents", "Agents"),
        (Nav::Events, "/events", "Events"),
        (Nav::Approvals, "/approvals", "Approvals"),
        (Nav::Tools, "/tools", "Tools"),
        (Nav::Schedules, "/schedules", "Schedules"),
        (Nav::Deployments, "/deployments", "Deployments"),
        (Nav::Usage, "/usage", "Usage"),
        (Nav::Chat, "/chat", "Chat"),
    ];
    Html(html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/" { "AgentOps" }
                    nav {
                        @for (entry, href, label) in entries {
                            a href=(href) aria-current=[(entry == nav).then_some("page")] { (label) }
                        }
                        @if session.is_admin() {
                            a href="/chats" aria-current=[(nav == Nav::Chats).then_some("page")] { "Chats" }
                            a href="/personas" aria-current=[(nav == Nav::Personas).then_some("page")] { "Personas" }
                            a href="/keys" aria-current=[(nav == Nav::Keys).then_some("page")] { "Keys" }
                        }
                    }
                    div.who {
                        span.role title="Your key's role" { (session.role) }
                        form method="post" action="/logout" {
                            (csrf_field(session))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                @match live {
                    Some(url) => main hx-ext="sse" sse-connect=(url) data-live {
                        span.live-dot title="Live: updates arrive as they happen" { "live" }
                        (body)
                    },
                    None => main { (body) },
                }
            }
        }
    }.into_string())
}

/// A task status as a coloured badge.
pub(crate) fn status_badge(status: TaskStatus) -> Markup {
    html! { span class=(format!("badge s-{status}")) { (status) } }
}

/// Any status-like word as a badge.
pub(crate) fn badge(word: &str) -> Markup {
    html! { span class=(format!("badge s-{word}")) { (word) } }
}

/// The last 8 hex digits of an id (its first ones are a timestamp, shared by every id
/// made in the same moment), as the Chief of Staff shows ids too.
pub(crate) fn short(id: Uuid) -> String {
    id.simple().to_string()[24..].to_owned()
}

/// "3 min ago", with the exact time on hover.
pub(crate) fn ago(at: DateTime<Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) title=(at.format("%Y-%m-%d %H:%M:%S UTC")) { (ago_text(at)) } }
}

pub(crate) fn ago_text(at: DateTime<Utc>) -> String {
    let seconds = (Utc::now() - at).num_seconds();
    match seconds {
        s if s < 0 => format!("in {}", duration_text(-s)),
        s if s < 5 => "just now".to_owned(),
        s => format!("{} ago", duration_text(s)),
    }
}

/// "42 s", "3 min", "5 h", "2 d".
pub(crate) fn duration_text(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// JSON, pretty, in a collapsible block (open if short).
pub(crate) fn json_block(label: &str, value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let open = text.lines().count() <= 12;
    html! {
        details.json open[open] {
            summary { (label) " " small { "(" (text.lines().count()) " lines)" } }
            pre { code { (text) } }
        }
    }
}

/// A thousands-separated number.
pub(crate) fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An empty-state line.
pub(crate) fn empty(text: &str) -> Markup {
    html! { p.empty { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(number(0), "0");
        assert_eq!(number(1234567), "1,234,567");
        assert_eq!(number(100), "100");
        assert_eq!(duration_text(42), "42 s");
        assert_eq!(duration_text(600), "10 min");
        assert_eq!(duration_text(7200), "2 h");
    }
}
