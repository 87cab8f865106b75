//! `/tools`: the tools agents wrote for themselves (the Seed's `create_tool`: a shell or
//! Python script, its input schema, its tests). Those waiting for review come first, each
//! with its source to read and, for an admin, **Approve** and **Reject**; then the others,
//! filtered by status or name, with how often they ran, how often they failed and why.
//! `/tools/{id}` shows one tool whole: source, input schema, tests with how they went,
//! its other versions, who reviewed it and why, and **Retire** for an approved one.
//!
//! Self-written code is a supply-chain risk: a person reads it before later tasks are
//! offered it, so the source is always on the page (escaped, as text), never run here.
//! Who may press what follows the API's rule (approve and reject need an admin key,
//! retire an agent key); the API checks it again whatever the page sends. Live: a tool
//! stored, reviewed, retired or run anywhere (the Seed, Telegram, another dashboard)
//! shows up without a reload (`tool.*` events).

use std::collections::HashMap;

use axum::extract::{Form, Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use agentops_sdk::types::{Role, ToolOut, ToolReviewIn, ToolStatus, ToolTest};

use super::{fragment, head};
use crate::error::{WebError, percent_encode};
use crate::layout::{self, Nav, ago, badge, json_block, short};
use crate::live::LiveQuery;
use crate::session::{Session, csrf_field};

/// Tools each section lists (the newest).
const LISTED: u32 = 100;
/// Characters of a last error a list row shows (the tool's page shows it whole).
const ERROR_PREVIEW: usize = 160;

/// The list's filters, as the form sends them (empty means "any").
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ToolsQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl ToolsQuery {
    fn status(&self) -> Result<Option<ToolStatus>, WebError> {
        given(&self.status)
            .map(|v| {
                v.parse::<ToolStatus>()
                    .map_err(|_| WebError::BadInput(format!("`{v}` is not a tool status")))
            })
            .transpose()
    }

    fn name(&self) -> Option<&str> {
        given(&self.name)
    }

    /// The filters as a query string.
    fn query_string(&self) -> String {
        [("status", given(&self.status)), ("name", self.name())]
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| format!("{key}={}", percent_encode(v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Whether this session may approve or reject a tool (the API wants an admin key).
fn may_review(session: &Session) -> bool {
    session.can_write()
}

/// Whether this session may retire a tool (the API wants an agent key or above).
fn may_retire(session: &Session) -> bool {
    matches!(session.role, Role::Admin | Role::Agent)
}

/// `GET /tools`.
pub(crate) async fn page(
    session: Session,
    Query(query): Query<ToolsQuery>,
) -> Result<Response, WebError> {
    let chosen = query.status()?;
    let (since, rows) = tokio::try_join!(head(&session), rows_markup(&session, &query))?;
    let live = LiveQuery::url(since, Some("tool.*"), None, None);
    let body = html! {
        h1 { "Tools" }
        p.muted { "Tools agents wrote for themselves: a script, its input schema and its tests, which passed in the agent's sandbox. A new one waits for review — only the task that made it may use it — until someone approves it (then every later task is offered it) or rejects it. Read its source before you approve." }
        form.filters method="get" action="/tools" {
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in ToolStatus::ALL {
                        option value=(s) selected[chosen == Some(s)] { (s) }
                    }
                }
            }
            label { "Name " input name="name" value=[query.name()] size="14" maxlength="64"; }
            button type="submit" { "Filter" }
            a href="/tools" { "Clear" }
        }
        div #tool-rows hx-get=(format!("/tools/rows?{}", query.query_string())) hx-trigger="refresh" data-refresh-on="tool" data-refresh-ms="300" { (rows) }
    };
    Ok(layout::page(&session, Nav::Tools, "Tools", Some(live), body).into_response())
}

/// `GET /tools/rows`: the part the live stream refreshes.
pub(crate) async fn rows(
    session: Session,
    Query(query): Query<ToolsQuery>,
) -> Result<Response, WebError> {
    Ok(fragment(rows_markup(&session, &query).await?))
}

async fn rows_markup(session: &Session, query: &ToolsQuery) -> Result<Markup, WebError> {
    let status = query.status()?;
    let client = &session.client;
    let list = |status: Option<ToolStatus>| {
        let mut request = client.tools().list().limit(LISTED);
        if let Some(status) = status {
            request = request.status(status);
        }
        if let Some(name) = query.name() {
            request = request.name(name);
        }
        request.send()
    };
    let show_pending = matches!(status, None | Some(ToolStatus::PendingReview));
    let show_others = status != Some(ToolStatus::PendingReview);
    let (pending, others, agents) = tokio::try_join!(
        async {
            Ok::<_, WebError>(if show_pending {
                list(Some(ToolStatus::PendingReview)).await?.items
            } else {
                Vec::new()
            })
        },
        async {
            Ok::<_, WebError>(if show_others {
                let mut items = list(status).await?.items;
                items.retain(|t| t.status != ToolStatus::PendingReview);
                items
            } else {
                Vec::new()
            })
        },
        async { Ok::<_, WebError>(client.agents().list().limit(200).send().await?) },
    )?;
    let names: HashMap<Uuid, String> = agents.items.into_iter().map(|a| (a.id, a.name)).collect();
    let heading = match status {
        None => "Reviewed",
        Some(ToolStatus::Approved) => "Approved",
        Some(ToolStatus::Rejected) => "Rejected",
        Some(ToolStatus::Retired) => "Retired",
        Some(ToolStatus::PendingReview) => "",
    };
    Ok(html! {
        @if show_pending {
            section.panel #waiting {
                h2 { "Waiting for review" }
                @if pending.is_empty() { (layout::empty("No tool is waiting for review.")) }
                @for tool in &pending { (card(session, tool, &names, "/tools")) }
            }
        }
        @if show_others {
            section.panel #reviewed {
                h2 { (heading) }
                @if others.is_empty() {
                    (layout::empty(if status.is_none() && query.name().is_none() {
                        "No tool has been reviewed yet. Agents write tools while they work (the Seed's create_tool); they show up here."
                    } else {
                        "No tool matches."
                    }))
                } @else { (table(&others, &names)) }
            }
        }
    })
}

/// Who wrote a tool: its author agent's name when known, else its short id.
fn author(tool: &ToolOut, names: &HashMap<Uuid, String>) -> Markup {
    html! {
        @match tool.author_agent_id {
            Some(id) => a href="/agents" title=(id) { (names.get(&id).cloned().unwrap_or_else(|| format!("agent {}", short(id)))) },
            None => span.muted { "unknown" },
        }
    }
}

fn task_link(tool: &ToolOut) -> Markup {
    html! {
        @match tool.task_id {
            Some(task) => a href=(format!("/tasks/{task}")) { "task " (short(task)) },
            None => span.muted { "—" },
        }
    }
}

/// "12 runs · 2 failed".
fn runs(tool: &ToolOut) -> Markup {
    html! {
        span.runs {
            (tool.usage_count) @if tool.usage_count == 1 { " run" } @else { " runs" }
            @if tool.failure_count > 0 { " · " span.problem { (tool.failure_count) " failed" } }
        }
    }
}

fn clipped(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        text.chars().take(max - 1).collect::<String>() + "…"
    } else {
        text.to_owned()
    }
}

fn tests_summary(tests: &[ToolTest]) -> String {
    let passed = tests.iter().filter(|t| t.result.passed).count();
    if passed == tests.len() {
        format!("{passed} test{} passed", if passed == 1 { "" } else { "s" })
    } else {
        format!("{passed} of {} tests passed", tests.len())
    }
}

/// A tool waiting for review: what it is, its source to read, and the buttons.
fn card(session: &Session, tool: &ToolOut, names: &HashMap<Uuid, String>, back: &str) -> Markup {
    html! {
        article.tool data-tool=(tool.id) {
            h3 {
                a href=(format!("/tools/{}", tool.id)) { (tool.name) } " "
                small.version { "v" (tool.version) } " " (badge(tool.status.as_str()))
            }
            p { (tool.description) }
            p.muted {
                code { (tool.runtime) } " · by " (author(tool, names)) " · " (task_link(tool))
                " · " (tests_summary(&tool.tests)) " · stored " (ago(tool.created_at))
            }
            details.source id=(format!("source-{}", tool.id)) {
                summary { "Source (" (tool.source.lines().count()) " lines)" }
                pre { code { (tool.source) } }
            }
            (actions(session, tool, back))
        }
    }
}

fn table(tools: &[ToolOut], names: &HashMap<Uuid, String>) -> Markup {
    html! {
        table.list {
            thead { tr { th { "Tool" } th { "Status" } th.wide { "Runtime" } th.wide { "Author" } th.wide { "Task" } th { "Runs" } th { "Last error" } th.wide { "Changed" } } }
            tbody {
                @for tool in tools {
                    tr data-tool=(tool.id) {
                        td {
                            a href=(format!("/tools/{}", tool.id)) { (tool.name) } " " small.version { "v" (tool.version) }
                            br; small.muted { (clipped(&tool.description, ERROR_PREVIEW)) }
                        }
                        td { (badge(tool.status.as_str())) }
                        td.wide { code { (tool.runtime) } }
                        td.wide { (author(tool, names)) }
                        td.wide { (task_link(tool)) }
                        td { (runs(tool)) }
                        td { @if let Some(error) = &tool.last_error { small.problem title=(error) { (clipped(error, ERROR_PREVIEW)) } } @else { "—" } }
                        td.wide { (ago(tool.updated_at)) }
                    }
                }
            }
        }
    }
}

/// The buttons this session may press for this tool; after one the browser goes back to
/// `back`.
fn actions(session: &Session, tool: &ToolOut, back: &str) -> Markup {
    let id = tool.id;
    html! {
        @if tool.status == ToolStatus::PendingReview && may_review(session) {
            div.actions {
                form method="post" action=(format!("/tools/{id}/approve")) {
                    (csrf_field(session))
                    input type="hidden" name="back" value=(back);
                    button.ok type="submit" data-action="approve" { "Approve" }
                }
                form.reject method="post" action=(format!("/tools/{id}/reject")) {
                    (csrf_field(session))
                    input type="hidden" name="back" value=(back);
                    input name="reason" placeholder="Why not (optional)" maxlength="2000";
                    button.danger type="submit" data-action="reject" { "Reject" }
                }
            }
        }
        @if tool.status == ToolStatus::Approved && may_retire(session) {
            div.actions {
                form.reject method="post" action=(format!("/tools/{id}/retire")) {
                    (csrf_field(session))
                    input type="hidden" name="back" value=(back);
                    input name="reason" placeholder="Why (optional)" maxlength="2000";
                    button.danger type="submit" data-action="retire" { "Retire" }
                }
            }
        }
    }
}

/// `GET /tools/{id}`.
pub(crate) async fn detail(session: Session, Path(id): Path<Uuid>) -> Result<Response, WebError> {
    // The head first: an event committed while the tool is read arrives live.
    let since = head(&session).await?;
    let tool = session.client.tools().get(id).await?;
    let card = detail_markup(&session, &tool).await?;
    let live = LiveQuery::url(since, Some("tool.*"), None, None);
    let title = format!("{} v{}", tool.name, tool.version);
    let body = html! {
        nav.crumbs { a href="/tools" { "Tools" } " / " (tool.name) }
        div #tool-card hx-get=(format!("/tools/{id}/card")) hx-trigger="refresh" data-refresh-on="tool" data-refresh-ms="300" { (card) }
    };
    Ok(layout::page(&session, Nav::Tools, &title, Some(live), body).into_response())
}

/// `GET /tools/{id}/card`: the part the live stream refreshes.
pub(crate) async fn card_part(
    session: Session,
    Path(id): Path<Uuid>,
) -> Result<Response, WebError> {
    let tool = session.client.tools().get(id).await?;
    Ok(fragment(detail_markup(&session, &tool).await?))
}

/// Something the page names but that may be gone (a deleted task or agent): `None`.
fn found<T>(result: agentops_sdk::Result<T>) -> Result<Option<T>, WebError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err.into()),
    }
}

async fn detail_markup(session: &Session, tool: &ToolOut) -> Result<Markup, WebError> {
    let client = &session.client;
    let (agent, task, versions) = tokio::try_join!(
        async {
            match tool.author_agent_id {
                Some(id) => found(client.agents().get(id).await),
                None => Ok(None),
            }
        },
        async {
            match tool.task_id {
                Some(id) => found(client.tasks().get(id).await),
                None => Ok(None),
            }
        },
        async {
            Ok::<_, WebError>(
                client
                    .tools()
                    .list()
                    .name(&tool.name)
                    .limit(20)
                    .send()
                    .await?,
            )
        },
    )?;
    let names: HashMap<Uuid, String> = agent.into_iter().map(|a| (a.id, a.name)).collect();
    Ok(render_detail(
        session,
        tool,
        &names,
        task.as_ref().map(|t| t.title.as_str()),
        &versions.items,
    ))
}

/// One tool, whole (no I/O: what the page and its live part show).
fn render_detail(
    session: &Session,
    tool: &ToolOut,
    names: &HashMap<Uuid, String>,
    task_title: Option<&str>,
    versions: &[ToolOut],
) -> Markup {
    let reviewed = match tool.status {
        ToolStatus::PendingReview => None,
        ToolStatus::Approved => Some("Approved"),
        ToolStatus::Rejected => Some("Rejected"),
        ToolStatus::Retired => Some("Retired"),
    };
    html! {
        h1 { (tool.name) " " small.version { "v" (tool.version) } " " span data-field="status" { (badge(tool.status.as_str())) } }
        p.lead { (tool.description) }
        div.grid {
            section.panel {
                h2 { "About" }
                dl.facts {
                    dt { "Status" } dd { (badge(tool.status.as_str())) }
                    dt { "Runtime" } dd { code { (tool.runtime) } }
                    dt { "Written by" } dd { (author(tool, names)) }
                    dt { "In task" } dd {
                        @match (tool.task_id, task_title) {
                            (Some(id), Some(title)) => a href=(format!("/tasks/{id}")) { (title) },
                            _ => (task_link(tool)),
                        }
                    }
                    @if let Some(project) = tool.project_id {
                        dt { "Project" } dd { a href=(format!("/projects/{project}")) { "project " (short(project)) } }
                    }
                    dt { "Stored" } dd { (ago(tool.created_at)) }
                    dt { "Runs" } dd data-field="runs" { (runs(tool)) }
                    dt { "Last used" } dd { @if let Some(at) = tool.last_used_at { (ago(at)) } @else { "never" } }
                    @if let (Some(word), Some(at)) = (reviewed, tool.reviewed_at) {
                        dt { (word) } dd {
                            (ago(at))
                            @if let Some(by) = &tool.reviewed_by { " by " (by) }
                            @if let Some(reason) = &tool.review_reason { br; small.muted { (reason) } }
                        }
                    }
                }
                @if let Some(error) = &tool.last_error { p.problem { strong { "Last error: " } (error) } }
                @if tool.status == ToolStatus::PendingReview {
                    p.muted { "Waiting for review: only the task that made it may use it until it is approved." }
                }
                (actions(session, tool, &format!("/tools/{}", tool.id)))
            }
            section.panel {
                h2 { "Versions" }
                ul.plain.versions {
                    @for v in versions {
                        li {
                            @if v.id == tool.id { strong { "v" (v.version) } } @else { a href=(format!("/tools/{}", v.id)) { "v" (v.version) } }
                            " " (badge(v.status.as_str())) " " small.muted { (ago(v.created_at)) }
                        }
                    }
                }
            }
        }
        section.panel {
            h2 { "Source " small.muted { "(" (tool.runtime) ", " (tool.source.lines().count()) " lines)" } }
            p.muted { "Its arguments arrive as JSON on standard input and each top-level scalar one as $ARG_<NAME>; what it writes to standard output is its answer." }
            pre.source { code { (tool.source) } }
        }
        section.panel {
            h2 { "Input schema" }
            (json_block("JSON Schema of its arguments", &tool.input_schema))
        }
        section.panel {
            h2 { "Tests " small.muted { "(" (tests_summary(&tool.tests)) " when its author ran them)" } }
            ol.tests {
                @for (i, test) in tool.tests.iter().enumerate() {
                    li data-test=(i) {
                        (badge(if test.result.passed { "passed" } else { "failed" }))
                        " input " code { (serde_json::to_string(&test.input).unwrap_or_default()) }
                        " — output must " (if test.exact { "be" } else { "contain" }) " " code { (test.expect) }
                        @if !test.result.output.is_empty() {
                            details.preview id=(format!("test-output-{i}")) {
                                summary { "Output" }
                                pre { (test.result.output) }
                            }
                        }
                        @if let Some(error) = &test.result.error { p.problem { (error) } }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ReviewForm {
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back: Option<String>,
}

/// Where to go after a decision: the tool's own page if the button was there, else the
/// list (only this site's pages).
fn back_to(id: Uuid, back: Option<&str>) -> Redirect {
    let own = format!("/tools/{id}");
    Redirect::to(if back == Some(own.as_str()) {
        &own
    } else {
        "/tools"
    })
}

/// The review to send: the reason typed, and who decided (`web:<key>`, the key the
/// person signed in with, as the Personas page names them; the session key's own id
/// would mean nothing once it expires).
async fn review_of(session: &Session, reason: &str) -> Result<ToolReviewIn, WebError> {
    let reason = reason.trim();
    if reason.chars().count() > 2000 {
        return Err(WebError::BadInput(
            "A reason is at most 2,000 characters.".into(),
        ));
    }
    let me = session.client.keys().me().await?;
    Ok(ToolReviewIn {
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        by: Some(format!("web:{}", me.parent_id.unwrap_or(me.id))),
    })
}

/// What a review form does to a tool.
#[derive(Clone, Copy)]
enum Verdict {
    Approve,
    Reject,
    Retire,
}

/// A review form's verdict on tool `id`, checked (CSRF) and sent as the signed-in key,
/// then back to where the form was.
async fn decide(
    session: Session,
    id: Uuid,
    form: ReviewForm,
    verdict: Verdict,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let review = review_of(&session, &form.reason).await?;
    let tools = session.client.tools();
    match verdict {
        Verdict::Approve => tools.approve(id, review).await?,
        Verdict::Reject => tools.reject(id, review).await?,
        Verdict::Retire => tools.retire(id, review).await?,
    };
    Ok(back_to(id, form.back.as_deref()).into_response())
}

/// `POST /tools/{id}/approve`.
pub(crate) async fn approve(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, WebError> {
    decide(session, id, form, Verdict::Approve).await
}

/// `POST /tools/{id}/reject`.
pub(crate) async fn reject(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, WebError> {
    decide(session, id, form, Verdict::Reject).await
}

/// `POST /tools/{id}/retire`.
pub(crate) async fn retire(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, WebError> {
    decide(session, id, form, Verdict::Retire).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentops_sdk::types::{ToolRuntime, ToolTestResult};
    use chrono::Utc;
    use serde_json::json;

    fn session(role: Role) -> Session {
        Session {
            client: agentops_sdk::Client::builder()
                .base_url("http://127.0.0.1:9")
                .build()
                .expect("a client"),
            secret: "aok_test".into(),
            role,
            csrf: "c".repeat(32),
        }
    }

    fn tool(status: ToolStatus) -> ToolOut {
        let now = Utc::now();
        ToolOut {
            id: Uuid::now_v7(),
            name: "shout".into(),
            version: 2,
            description: "Upper-cases <b>text</b>.".into(),
            input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}}),
            runtime: ToolRuntime::Sh,
            source: "echo '<script>alert(1)</script>' && tr a-z A-Z".into(),
            tests: vec![ToolTest {
                input: json!({"text": "hi"}),
                expect: "HI".into(),
                exact: true,
                result: ToolTestResult {
                    passed: true,
                    output: "HI".into(),
                    error: None,
                },
            }],
            status,
            author_agent_id: None,
            task_id: None,
            project_id: None,
            usage_count: 3,
            failure_count: 1,
            last_error: Some("exit 2".into()),
            last_used_at: Some(now),
            reviewed_by: None,
            review_reason: None,
            reviewed_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn detail_html(role: Role, tool: &ToolOut) -> String {
        render_detail(
            &session(role),
            tool,
            &HashMap::new(),
            None,
            std::slice::from_ref(tool),
        )
        .into_string()
    }

    #[test]
    fn a_tools_source_is_shown_as_escaped_text() {
        let html = detail_html(Role::Viewer, &tool(ToolStatus::PendingReview));
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("Upper-cases &lt;b&gt;text&lt;/b&gt;."),
            "{html}"
        );
        assert!(html.contains("1 test passed"), "{html}");
        assert!(html.contains("3 runs"), "{html}");
        assert!(html.contains("exit 2"), "{html}");
    }

    #[test]
    fn only_an_admin_sees_approve_and_reject_with_the_sessions_csrf_token() {
        let pending = tool(ToolStatus::PendingReview);
        let admin = detail_html(Role::Admin, &pending);
        assert!(admin.contains(&format!("action=\"/tools/{}/approve\"", pending.id)));
        assert!(admin.contains(&format!("action=\"/tools/{}/reject\"", pending.id)));
        assert!(admin.contains(&format!("name=\"csrf\" value=\"{}\"", "c".repeat(32))));
        assert!(!admin.contains("/retire\""), "no Retire while it waits");
        for role in [Role::Agent, Role::Viewer] {
            assert!(
                !detail_html(role, &pending).contains("data-action"),
                "{role}"
            );
        }
    }

    #[test]
    fn an_approved_tool_can_be_retired_by_an_agent_or_an_admin_but_not_a_viewer() {
        let approved = tool(ToolStatus::Approved);
        for role in [Role::Admin, Role::Agent] {
            let html = detail_html(role, &approved);
            assert!(html.contains("data-action=\"retire\""), "{role}");
            assert!(!html.contains("data-action=\"approve\""), "{role}");
        }
        assert!(!detail_html(Role::Viewer, &approved).contains("data-action"));
        assert!(!detail_html(Role::Admin, &tool(ToolStatus::Retired)).contains("data-action"));
    }

    #[test]
    fn after_a_decision_the_browser_goes_back_only_to_a_tools_page() {
        let id = Uuid::now_v7();
        let location = |back: Option<&str>| {
            back_to(id, back)
                .into_response()
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let own = format!("/tools/{id}");
        assert_eq!(location(Some(&own)), Some(own.clone()));
        for other in [
            None,
            Some("/tools"),
            Some("https://evil.example"),
            Some("/tools/x"),
        ] {
            assert_eq!(location(other).as_deref(), Some("/tools"), "{other:?}");
        }
    }

    #[test]
    fn the_filters_round_trip_as_a_query_string() {
        let query = ToolsQuery {
            status: Some("pending_review".into()),
            name: Some(" shout ".into()),
        };
        assert_eq!(
            query.status().ok().flatten(),
            Some(ToolStatus::PendingReview)
        );
        assert_eq!(query.query_string(), "status=pending_review&name=shout");
        let bad = ToolsQuery {
            status: Some("nope".into()),
            name: None,
        };
        assert!(bad.status().is_err());
    }
}
