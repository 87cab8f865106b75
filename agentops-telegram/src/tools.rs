//! Tools agents write for themselves, put to the operators for review.
//!
//! A `tool.created` event of a tool that waits for review (`pending_review`) becomes a
//! notice in every operator chat that wants `tools` news: the tool's name and version,
//! what it does, its runtime, the task it was made in, its source (in a `<pre>` block,
//! cut to fit one message) and its tests with how they went, under **✅ Approve** and
//! **✖ Reject** buttons. A press (in a group, an administrator's, as for a chat's
//! pairing) decides it on the platform with the presser as `by` (`telegram:@ana`), and
//! edits that message to say who did, or, if it was decided already (on the dashboard,
//! from another chat), how it stands.
//!
//! Decisions are not announced as news of their own: whoever made one knows, and a
//! notice left with its buttons in another chat answers a late press with how the tool
//! stands (as a pairing request does). A tool that is no longer waiting when its event
//! is relayed (the relay was behind) is not put to anyone.
//!
//! Everything shown comes from an agent and is escaped: the source is shown as
//! written, never read as markup.

use agentops_sdk::types::{ToolOut, ToolReviewIn, ToolStatus};
use teloxide::payloads::EditMessageTextSetters;
use teloxide::requests::Requester;
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage, ParseMode, User,
};
use uuid::Uuid;

use crate::messages::{self, MAX_TEXT, escape};
use crate::outbox::What;
use crate::{BotError, TelegramBot};

/// The data prefix of the button that approves a tool (`tool_approve:<id>`).
pub const APPROVE: &str = "tool_approve";

/// The data prefix of the button that rejects a tool (`tool_reject:<id>`).
pub const REJECT: &str = "tool_reject";

/// The news kind (`/notify`) of tools to review.
pub const NEWS: &str = "tools";

/// Shown characters kept for the line an edit adds under the notice (who decided).
const FOOTER_ROOM: usize = 300;

/// Shown characters of the notice without that line.
const NOTICE_MAX: usize = MAX_TEXT - FOOTER_ROOM;

/// Shown characters of a tool's description.
const DESCRIPTION_MAX: usize = 600;

/// Shown characters of all the tests' lines together.
const TESTS_MAX: usize = 1_200;

/// Shown characters of one test's input.
const INPUT_MAX: usize = 160;

/// Shown characters of what one test expects.
const EXPECT_MAX: usize = 120;

/// Shown characters of one test's output (and of its error).
const OUTPUT_MAX: usize = 200;

/// Shown characters kept for the heading above the source (it says when it was cut).
const SOURCE_HEADING_ROOM: usize = 120;

/// Telegram's HTML under construction, counting the characters Telegram will show
/// (its limit is on those, not on the markup).
#[derive(Default)]
struct Html {
    html: String,
    shown: usize,
}

impl Html {
    /// `plain`, escaped.
    fn text(&mut self, plain: &str) -> &mut Self {
        self.shown += plain.chars().count();
        self.html.push_str(&escape(plain));
        self
    }

    /// Markup written here (tags, line breaks): only its line breaks show.
    fn tag(&mut self, markup: &str) -> &mut Self {
        self.shown += markup.matches('\n').count();
        self.html.push_str(markup);
        self
    }

    /// `other`, as it is.
    fn append(&mut self, other: &Html) -> &mut Self {
        self.shown += other.shown;
        self.html.push_str(&other.html);
        self
    }
}

/// How a tool is put to the operators, in Telegram's HTML, within [`MAX_TEXT`] shown
/// characters with `footer` (what became of it) in bold at the end: `made_in` says
/// where it was made (`task #… "…"`). The source gets what room the rest leaves.
pub fn notice(tool: &ToolOut, made_in: &str, footer: Option<&str>) -> String {
    let mut head = Html::default();
    let title = format!("{} v{}", tool.name, tool.version);
    head.text("🧰 ")
        .tag("<b>")
        .text(&match tool.status {
            ToolStatus::PendingReview => format!("New tool to review: {title}"),
            _ => format!("Tool {title}"),
        })
        .tag("</b>\n")
        .text(&agentops_sdk::text::truncate(
            tool.description.trim(),
            DESCRIPTION_MAX,
        ))
        .text("\nRuntime: ")
        .tag("<code>")
        .text(tool.runtime.as_str())
        .tag("</code>")
        .text(&format!(" · made in {made_in}\n"));

    let mut tests = Html::default();
    let passed = tool.tests.iter().filter(|t| t.result.passed).count();
    let summary = if passed == tool.tests.len() {
        format!("Tests: {passed} of {}, all passed", tool.tests.len())
    } else {
        format!("Tests: {passed} of {} passed", tool.tests.len())
    };
    tests.tag("<b>").text(&summary).tag("</b>");
    for (i, test) in tool.tests.iter().enumerate() {
        let line = test_line(test);
        if tests.shown + line.shown + 40 > TESTS_MAX {
            tests.text(&format!("\n… and {} more", tool.tests.len() - i));
            break;
        }
        tests.tag("\n").append(&line);
    }

    // The source gets the rest of the room (the dashboard's Tools page shows it all).
    let source = tool.source.trim_end();
    let room = NOTICE_MAX.saturating_sub(head.shown + tests.shown + SOURCE_HEADING_ROOM + 2);
    let lines = source.lines().count();
    let total = source.chars().count();
    let shown = cut(source, room);
    let mut code = Html::default();
    code.tag("<b>").text("Source").tag("</b>");
    if shown.chars().count() < total {
        code.text(&format!(
            " ({lines} lines, cut after {} of {total} characters: the dashboard's Tools page shows it all)",
            shown.chars().count()
        ));
    } else {
        code.text(&format!(
            " ({lines} line{})",
            if lines == 1 { "" } else { "s" }
        ));
    }
    code.tag(&format!(
        "\n<pre><code class=\"language-{}\">",
        tool.runtime.as_str()
    ))
    .text(&shown)
    .tag("</code></pre>\n");

    let mut html = format!("{}{}{}", head.html, code.html, tests.html);
    if let Some(footer) = footer {
        html.push_str("\n\n<b>");
        html.push_str(&escape(&agentops_sdk::text::truncate(
            footer,
            FOOTER_ROOM - 2,
        )));
        html.push_str("</b>");
    }
    html
}

/// One test: whether it passed, its input, what it expects, and what it wrote.
fn test_line(test: &agentops_sdk::types::ToolTest) -> Html {
    let one_line = |text: &str, max: usize| {
        agentops_sdk::text::truncate(&text.trim().replace('\n', " ⏎ "), max)
    };
    let mut line = Html::default();
    line.text(if test.result.passed { "✅ " } else { "❌ " })
        .tag("<code>")
        .text(&one_line(&test.input.to_string(), INPUT_MAX))
        .tag("</code>")
        .text(if test.exact {
            " → exactly "
        } else {
            " → contains "
        })
        .tag("<code>")
        .text(&one_line(&test.expect, EXPECT_MAX))
        .tag("</code>")
        .text(" · output: ")
        .tag("<code>")
        .text(&one_line(&test.result.output, OUTPUT_MAX))
        .tag("</code>");
    if let Some(error) = test
        .result
        .error
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        line.text(&format!(" · error: {}", one_line(error, OUTPUT_MAX)));
    }
    line
}

/// `source` within `room` characters: whole lines where it can, then `…`.
fn cut(source: &str, room: usize) -> String {
    if source.chars().count() <= room {
        return source.to_owned();
    }
    let room = room.saturating_sub(2);
    let end = source
        .char_indices()
        .nth(room)
        .map_or(source.len(), |(i, _)| i);
    let window = &source[..end];
    let kept = match window.rfind('\n') {
        // Whole lines, unless that drops much of what fits.
        Some(at) if at >= window.len() / 2 => &window[..at],
        _ => window,
    };
    format!("{kept}\n…")
}

/// Who decided a tool from Telegram, as the platform keeps it: `telegram:@username`,
/// else `telegram:<user id>` (a name is whatever the person typed; an id is Telegram's).
pub fn reviewer(user: &User) -> String {
    match &user.username {
        Some(username) => format!("telegram:@{username}"),
        None => format!("telegram:{}", user.id),
    }
}

/// What a toast and the notice say of a tool decided before the press (by someone
/// else, or by the same person earlier).
fn already(tool: &ToolOut) -> String {
    let by = tool
        .reviewed_by
        .as_deref()
        .map(|by| format!(" by {by}"))
        .unwrap_or_default();
    match tool.status {
        ToolStatus::PendingReview => "It still waits for review.".to_owned(),
        status => format!("Already {status}{by}."),
    }
}

impl TelegramBot {
    /// What a `tool.created` event owes the operator chats: the tool put to review, if
    /// it still waits for it.
    pub(crate) async fn tool_news(&self, tool: &ToolOut) -> Result<Vec<(ChatId, What)>, BotError> {
        if tool.status != ToolStatus::PendingReview {
            return Ok(Vec::new());
        }
        // As it stands now: the relay may be behind the decision.
        let tool = match self.inner.platform.tools().get(tool.id).await {
            Ok(tool) if tool.status == ToolStatus::PendingReview => tool,
            Ok(_) => return Ok(Vec::new()),
            Err(err) if err.is_not_found() => return Ok(Vec::new()),
            Err(err) => return Err(err.into()),
        };
        let text = notice(&tool, &self.made_in(&tool).await, None);
        let buttons = InlineKeyboardMarkup::new([[
            InlineKeyboardButton::callback("✅ Approve", format!("{APPROVE}:{}", tool.id)),
            InlineKeyboardButton::callback("✖ Reject", format!("{REJECT}:{}", tool.id)),
        ]]);
        Ok(crate::one_each(
            self.chats_wanting(NEWS).await?,
            &text,
            Some(buttons),
            false,
        ))
    }

    /// Where `tool` was made, for its notice: `task #… "…" (project …)`.
    async fn made_in(&self, tool: &ToolOut) -> String {
        let Some(task) = tool.task_id else {
            return "no task".to_owned();
        };
        match self.inner.platform.tasks().get(task).await {
            Ok(task) => {
                let project = self
                    .project_name(task.project_id)
                    .await
                    .map(|p| format!(" (project {p})"))
                    .unwrap_or_default();
                format!("task {}{project}", crate::task_line(&task))
            }
            // The notice matters more than the task's title.
            Err(err) => {
                tracing::debug!(%task, "a tool's task cannot be read: {err}");
                format!("task {task}")
            }
        }
    }

    /// What pressing ✅ Approve or ✖ Reject under a tool's notice does (in a group,
    /// for its admins only): the tool is decided on the platform by the person who
    /// pressed, and the notice says who decided, its buttons gone. A tool decided
    /// already is left as it is, and the notice says how it stands. Returns the toast.
    pub(crate) async fn on_tool_button(
        &self,
        chat: ChatId,
        message: &MaybeInaccessibleMessage,
        approve: bool,
        id: Uuid,
        user: &User,
    ) -> Result<String, BotError> {
        if !self.may_act(message.chat(), user).await? {
            return Ok("Only an admin of this chat can review a tool.".into());
        }
        let tools = self.inner.platform.tools();
        let tool = match tools.get(id).await {
            Ok(tool) => tool,
            Err(err) if err.is_not_found() => return Ok("That tool is gone.".into()),
            Err(err) => return Err(err.into()),
        };
        let by = reviewer(user);
        let (outcome, tool) = if tool.status == ToolStatus::PendingReview {
            let review = ToolReviewIn {
                reason: None,
                by: Some(by.clone()),
            };
            let decided = if approve {
                tools.approve(id, review).await
            } else {
                tools.reject(id, review).await
            };
            let wanted = if approve {
                ToolStatus::Approved
            } else {
                ToolStatus::Rejected
            };
            match decided {
                Ok(tool) if tool.status == wanted && tool.reviewed_by.as_deref() == Some(&by) => {
                    let who = messages::display(user);
                    let outcome = if approve {
                        format!("✅ Approved by {who}: later tasks are offered it.")
                    } else {
                        format!("✖ Rejected by {who}.")
                    };
                    (outcome, tool)
                }
                // The same decision, made by someone else a moment before: the
                // platform answers with the tool as it was decided.
                Ok(tool) => (already(&tool), tool),
                Err(err) if err.is_conflict() || err.is_invalid_transition() => {
                    let tool = tools.get(id).await?;
                    (already(&tool), tool)
                }
                Err(err) => return Err(err.into()),
            }
        } else {
            (already(&tool), tool)
        };
        let text = notice(&tool, &self.made_in(&tool).await, Some(&outcome));
        let edited = self
            .inner
            .bot
            .edit_message_text(chat, message.id(), text)
            .parse_mode(ParseMode::Html)
            .reply_markup(InlineKeyboardMarkup::default())
            .await;
        if let Err(err) = edited {
            tracing::debug!("a tool's notice was not updated: {err}");
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use agentops_sdk::types::{ToolRuntime, ToolTest, ToolTestResult};
    use serde_json::json;

    use super::*;

    fn tool(source: &str, tests: usize) -> ToolOut {
        let now = chrono::Utc::now();
        ToolOut {
            id: Uuid::nil(),
            name: "shout".into(),
            version: 2,
            description: "Upper-cases <text> & more.".into(),
            input_schema: json!({"type": "object"}),
            runtime: ToolRuntime::Python,
            source: source.into(),
            tests: (0..tests)
                .map(|i| ToolTest {
                    input: json!({"text": format!("hi {i} <b>")}),
                    expect: "HI".repeat(100),
                    exact: i % 2 == 0,
                    result: ToolTestResult {
                        passed: true,
                        output: "x".repeat(4_000),
                        error: None,
                    },
                })
                .collect(),
            status: ToolStatus::PendingReview,
            author_agent_id: None,
            task_id: None,
            project_id: None,
            usage_count: 0,
            failure_count: 0,
            last_error: None,
            last_used_at: None,
            reviewed_by: None,
            review_reason: None,
            reviewed_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// What Telegram shows of `html`: tags dropped, the three entities read.
    fn shown(html: &str) -> String {
        let mut out = String::new();
        let mut rest = html;
        while let Some(c) = rest.chars().next() {
            if c == '<' {
                rest = &rest[rest.find('>').unwrap() + 1..];
            } else if c == '&' {
                let end = rest.find(';').unwrap();
                out.push(match &rest[1..end] {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    other => panic!("&{other};"),
                });
                rest = &rest[end + 1..];
            } else {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out
    }

    #[test]
    fn a_short_tool_is_shown_whole_and_escaped() {
        let html = notice(
            &tool("print('<a & b>')\n", 1),
            "task #abc123 \"Shout\"",
            None,
        );
        assert!(html.starts_with("🧰 <b>New tool to review: shout v2</b>\nUpper-cases &lt;text&gt; &amp; more.\nRuntime: <code>python</code> · made in task #abc123 \"Shout\"\n"), "{html}");
        assert!(
            html.contains("<b>Source</b> (1 line)\n<pre><code class=\"language-python\">print('&lt;a &amp; b&gt;')</code></pre>"),
            "{html}"
        );
        assert!(html.contains("<b>Tests: 1 of 1, all passed</b>\n✅ <code>{\"text\":\"hi 0 &lt;b&gt;\"}</code> → exactly <code>HIHI"), "{html}");
    }

    #[test]
    fn a_huge_tool_is_cut_to_fit_one_message_with_its_footer() {
        let source = "echo '<&>' # a long line\n".repeat(3_000);
        let footer = format!("✅ Approved by @{}", "a".repeat(1_000));
        for footer in [None, Some(footer.as_str())] {
            let html = notice(&tool(&source, 20), "no task", footer);
            let text = shown(&html);
            assert!(text.chars().count() <= MAX_TEXT, "{}", text.chars().count());
            assert!(text.contains("cut after"), "{text}");
            assert!(text.contains("… and "), "{text}");
            // Cut at a line's end, never inside an entity.
            assert!(text.contains("# a long line\n…"), "{text}");
        }
        let many = "é".repeat(70_000);
        let text = shown(&notice(
            &tool(&many, 0),
            "no task",
            Some("✖ Rejected by @ana."),
        ));
        assert!(text.chars().count() <= MAX_TEXT);
        assert!(text.ends_with("✖ Rejected by @ana."), "{text}");
    }
}
