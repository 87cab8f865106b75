//! The Chief of Staff working on its own: a round every so often that looks at the
//! state of the work and tells the operators what needs them, and nothing when nothing
//! does.
//!
//! A round ([`Proactive::round`]):
//! 1. reads what may need a person: tasks blocked on a human for longer than
//!    [`ProactiveConfig::blocked_after`], tasks that failed in the last day, budgets past
//!    80 %;
//! 2. reads, per project concerned, its note `chief` (what the last round saw there);
//! 3. if nothing changed since, stops: **nothing to report sends nothing** (and spends
//!    nothing);
//! 4. else writes one short message to the operators (with an LLM, which sees the
//!    findings and the notes, booked as `proactive`; without one, or when the budget is
//!    spent, the findings as plain lines) in the thread `chief/operators`, which the
//!    Telegram bot sends to every allowed chat and the dashboard shows;
//! 5. writes each concerned project's note anew (versioned), for the next round and for
//!    the Chief of Staff's answers.
//!
//! Its pace follows its budget ([`Pace`]): it keeps a moving average of the tokens a
//! round spends and sleeps so that the rounds left in the day fit what the proactive
//! budgets have left, within [`ProactiveConfig::min_interval`] and
//! [`ProactiveConfig::max_interval`].

use std::collections::BTreeMap;
use std::time::Duration;

use agentops_sdk::types::{
    BudgetOut, BudgetTarget, MessageIn, MessageRole, NoteIn, Spender, TaskOut, TaskStatus,
    ThreadIn, UsageScope,
};
use agentops_sdk::{CancellationToken, Client};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::llm::{Llm, LlmError, Message};

/// The key of the notes the rounds keep on projects.
pub const NOTE_KEY: &str = "chief";

/// The thread the rounds write to (channel, external id).
pub const OPERATORS: (&str, &str) = ("chief", "operators");

/// How the rounds are paced and what they look for.
#[derive(Debug, Clone)]
pub struct ProactiveConfig {
    /// The shortest sleep between rounds.
    pub min_interval: Duration,
    /// The longest sleep between rounds.
    pub max_interval: Duration,
    /// A task blocked on a human for longer than this is worth telling.
    pub blocked_after: Duration,
    /// Tokens a day when no proactive budget is set on the platform.
    pub daily_tokens: u64,
}

impl Default for ProactiveConfig {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(300),
            max_interval: Duration::from_secs(6 * 3600),
            blocked_after: Duration::from_secs(3600),
            daily_tokens: 7_000_000,
        }
    }
}

/// What a round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// What it found worth telling (one line each), new or not.
    pub findings: Vec<String>,
    /// The message it sent, if anything was new.
    pub sent: Option<String>,
    /// Tokens its LLM call spent.
    pub tokens: u64,
    /// How long it sleeps before the next round.
    pub next_in: Duration,
}

/// Paces the rounds to the proactive budget: a moving average of the tokens a round
/// spends, and what is left of the day and of the budget.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    average: Option<f64>,
}

impl Pace {
    /// Adds a round that spent `tokens`.
    pub fn record(&mut self, tokens: u64) {
        let tokens = tokens as f64;
        self.average = Some(match self.average {
            None => tokens,
            Some(average) => 0.7 * average + 0.3 * tokens,
        });
    }

    /// The average tokens a round spends (0 before any).
    pub fn average(&self) -> f64 {
        self.average.unwrap_or(0.0)
    }

    /// How long to sleep: the day's remaining seconds shared among the rounds the
    /// remaining tokens pay for, within `min..=max`. Rounds that spend nothing go at the
    /// shortest interval; no tokens left, at the longest.
    pub fn interval(
        &self,
        remaining_tokens: u64,
        until_reset: Duration,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let average = self.average();
        let wanted = if average < 1.0 {
            min
        } else if remaining_tokens == 0 {
            max
        } else {
            let rounds = (remaining_tokens as f64 / average).max(1.0);
            Duration::from_secs_f64(until_reset.as_secs_f64() / rounds)
        };
        wanted.clamp(min, max.max(min))
    }
}

/// The proactive rounds. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Proactive {
    client: Client,
    llm: Option<Llm>,
    config: ProactiveConfig,
}

impl Proactive {
    /// Rounds through `client` (an admin key), thinking with `llm` if given; its calls
    /// are booked as proactive work.
    pub fn new(client: Client, llm: Option<Llm>, config: ProactiveConfig) -> Self {
        let llm = llm.map(|llm| {
            llm.for_spender(Spender {
                scope: UsageScope::Proactive,
                ..Spender::default()
            })
        });
        Self {
            client,
            llm,
            config,
        }
    }

    /// Runs rounds until `stop`; a round that fails (the platform is down) is logged and
    /// tried again after the shortest interval.
    pub async fn run(self, stop: CancellationToken) {
        let mut pace = Pace::default();
        loop {
            let wait = match self.round(&mut pace).await {
                Ok(round) => {
                    tracing::info!(
                        findings = round.findings.len(),
                        sent = round.sent.is_some(),
                        tokens = round.tokens,
                        next_in_secs = round.next_in.as_secs(),
                        "proactive round done"
                    );
                    round.next_in
                }
                Err(err) => {
                    tracing::warn!("a proactive round failed: {err}");
                    self.config.min_interval
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round (see the [module docs](self)).
    ///
    /// # Errors
    /// If the platform cannot be read or written.
    pub async fn round(&self, pace: &mut Pace) -> Result<Round, agentops_sdk::Error> {
        let now = Utc::now();
        let (findings, budgets) = self.findings(now).await?;
        let mut by_project: BTreeMap<Option<Uuid>, Vec<String>> = BTreeMap::new();
        for (project, line) in &findings {
            by_project.entry(*project).or_default().push(line.clone());
        }
        // What is new since the last round, per project's note.
        let mut notes = Vec::new();
        let mut new = Vec::new();
        for (project, lines) in &by_project {
            let body = lines.join("\n");
            let Some(project) = project else {
                new.extend(lines.iter().cloned());
                continue;
            };
            let previous = self.client.projects().note(*project, NOTE_KEY).await?;
            let seen = previous
                .as_ref()
                .and_then(|n| n.text.split_once("\n\n").map(|(_, body)| body.to_owned()));
            if seen.as_deref() != Some(body.as_str()) {
                new.extend(lines.iter().cloned());
                notes.push((*project, previous, body));
            }
        }
        let budget_only_news = !new.is_empty()
            && new.iter().all(|line| line.starts_with("Budget "))
            && self.budget_news_told(&new).await?;
        let mut tokens = 0;
        let mut sent = None;
        if !new.is_empty() && !budget_only_news {
            let (text, spent) = self.compose(&new, &notes).await;
            tokens = spent;
            if let Some(text) = text {
                self.tell_operators(&text).await?;
                sent = Some(text);
            }
        }
        for (project, previous, body) in notes {
            let text = format!("As of {} UTC:\n\n{body}", now.format("%Y-%m-%d %H:%M"));
            let written = self
                .client
                .projects()
                .write_note(
                    project,
                    NOTE_KEY,
                    NoteIn {
                        text,
                        expected_version: Some(previous.map_or(0, |n| n.version)),
                    },
                )
                .await;
            if let Err(err) = written {
                // Someone else wrote it meanwhile: the next round reads theirs.
                tracing::warn!(%project, "cannot write the project's note: {err}");
            }
        }
        pace.record(tokens);
        let (remaining, until_reset) = self.budget_left(&budgets, now);
        let next_in = pace.interval(
            remaining,
            until_reset,
            self.config.min_interval,
            self.config.max_interval,
        );
        Ok(Round {
            findings: findings.into_iter().map(|(_, line)| line).collect(),
            sent,
            tokens,
            next_in,
        })
    }

    /// Whether these budget lines were already told in the operators' thread today
    /// (budgets have no project note to remember them by).
    async fn budget_news_told(&self, lines: &[String]) -> Result<bool, agentops_sdk::Error> {
        let thread = operators_thread(&self.client).await?;
        let recent = self
            .client
            .threads()
            .messages(thread)
            .limit(20)
            .send()
            .await?
            .items;
        let today = Utc::now().date_naive();
        Ok(lines.iter().all(|line| {
            recent
                .iter()
                .any(|m| m.created_at.date_naive() == today && m.text.contains(line.as_str()))
        }))
    }

    /// What may need a person, each line with its project; and the budgets read.
    async fn findings(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<(Option<Uuid>, String)>, Vec<BudgetOut>), agentops_sdk::Error> {
        let tasks = self.client.tasks();
        let mut lines = Vec::new();
        let blocked_after = chrono::Duration::from_std(self.config.blocked_after)
            .unwrap_or(chrono::Duration::hours(1));
        let blocked: Vec<TaskOut> = tasks
            .list()
            .status(TaskStatus::Blocked)
            .limit(100)
            .send()
            .await?
            .items;
        for task in blocked {
            if now - task.updated_at >= blocked_after {
                lines.push((
                    Some(task.project_id),
                    format!(
                        "Task {} has waited for a person since {}: {}",
                        task_ref(&task),
                        task.updated_at.format("%Y-%m-%d %H:%M UTC"),
                        task.block_reason
                            .as_deref()
                            .unwrap_or("(no question given)")
                    ),
                ));
            }
        }
        let failed: Vec<TaskOut> = tasks
            .list()
            .status(TaskStatus::Failed)
            .limit(50)
            .send()
            .await?
            .items;
        for task in failed {
            if now - task.updated_at <= chrono::Duration::days(1) {
                lines.push((
                    Some(task.project_id),
                    format!(
                        "Task {} failed: {}",
                        task_ref(&task),
                        task.error.as_deref().unwrap_or("(no error given)")
                    ),
                ));
            }
        }
        let budgets = self.client.budgets().list().limit(100).send().await?.items;
        for budget in &budgets {
            let used = budget.current.used_tokens;
            // Two states only, so a budget is told about once per state and period.
            if budget.enabled && budget.limit_tokens > 0 && used * 5 >= budget.limit_tokens * 4 {
                let state = if used >= budget.limit_tokens {
                    "is spent"
                } else {
                    "is over 80 % spent"
                };
                lines.push((
                    None,
                    format!(
                        "Budget \"{}\" ({} tokens a {}) {state}; it starts over at {}.",
                        budget.name,
                        budget.limit_tokens,
                        budget.period,
                        budget.current.resets_at.format("%Y-%m-%d %H:%M UTC")
                    ),
                ));
            }
        }
        lines.sort();
        Ok((lines, budgets))
    }

    /// The message for `new` findings: from the LLM if there is one and it has budget,
    /// else the findings themselves; and the tokens it spent. `None`: the LLM judged
    /// that nothing deserves a message.
    async fn compose(
        &self,
        new: &[String],
        notes: &[(Uuid, Option<agentops_sdk::types::NoteOut>, String)],
    ) -> (Option<String>, u64) {
        let plain = || format!("Heads-up from your Chief of Staff:\n• {}", new.join("\n• "));
        let Some(llm) = &self.llm else {
            return (Some(plain()), 0);
        };
        let mut context = String::from("What is new since your last round:\n");
        for line in new {
            context.push_str(&format!("- {line}\n"));
        }
        for (project, previous, _) in notes {
            if let Some(note) = previous {
                context.push_str(&format!(
                    "\nYour note on project {project} from last time:\n{}\n",
                    note.text
                ));
            }
        }
        let messages = [
            Message::system(
                "You are the Chief of Staff of a team of AI agents, on your own periodic \
                 round. Tell the operator, in at most three short sentences, what needs \
                 their attention and what to do about it. If nothing deserves to interrupt \
                 them, answer exactly NOTHING.",
            ),
            Message::user(context),
        ];
        match llm.chat(&messages, &[]).await {
            Ok(completion) => {
                let tokens = completion.usage.prompt_tokens + completion.usage.completion_tokens;
                let text = completion.message.content.unwrap_or_default();
                let text = agentops_sdk::text::clean(text.trim());
                if text.is_empty() || text.trim_end_matches('.').eq_ignore_ascii_case("nothing") {
                    (None, tokens)
                } else {
                    (Some(text), tokens)
                }
            }
            Err(LlmError::Budget { message, .. }) => {
                tracing::info!("the proactive budget is spent, reporting plainly: {message}");
                (Some(plain()), 0)
            }
            Err(err) => {
                tracing::warn!("the LLM failed on a proactive round, reporting plainly: {err}");
                (Some(plain()), 0)
            }
        }
    }

    async fn tell_operators(&self, text: &str) -> Result<(), agentops_sdk::Error> {
        let thread = operators_thread(&self.client).await?;
        self.client
            .threads()
            .post(
                thread,
                MessageIn {
                    role: MessageRole::Assistant,
                    text: text.chars().take(4_000).collect(),
                    author: Some("chief-of-staff".into()),
                    metadata: Some(serde_json::json!({"proactive": true})),
                },
            )
            .await?;
        Ok(())
    }

    /// What the proactive budgets have left today, and when they start over: the
    /// tightest enabled daily budget on proactive or all work, else the configured
    /// daily tokens over the UTC day.
    fn budget_left(&self, budgets: &[BudgetOut], now: DateTime<Utc>) -> (u64, Duration) {
        let tightest = budgets
            .iter()
            .filter(|b| {
                b.enabled && matches!(b.applies_to, BudgetTarget::Proactive | BudgetTarget::All)
            })
            .min_by_key(|b| b.current.remaining_tokens);
        match tightest {
            Some(budget) => (
                budget.current.remaining_tokens,
                (budget.current.resets_at - now)
                    .to_std()
                    .unwrap_or(Duration::from_secs(60)),
            ),
            None => {
                let midnight = (now + chrono::Duration::days(1))
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc();
                (
                    self.config.daily_tokens,
                    (midnight - now).to_std().unwrap_or(Duration::from_secs(60)),
                )
            }
        }
    }
}

/// The thread the Chief of Staff tells the operators in (opened on first use).
///
/// # Errors
/// If the platform cannot be reached.
pub async fn operators_thread(client: &Client) -> Result<Uuid, agentops_sdk::Error> {
    let thread = client
        .threads()
        .open(ThreadIn {
            title: Some("Chief of Staff reports".into()),
            ..ThreadIn::for_channel(OPERATORS.0, OPERATORS.1)
        })
        .await?;
    Ok(thread.id)
}

fn task_ref(task: &TaskOut) -> String {
    format!("{} \"{}\"", super::actions::short_id(task.id), task.title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_slows_as_the_budget_runs_down_and_stays_within_its_bounds() {
        let (min, max) = (Duration::from_secs(60), Duration::from_secs(6 * 3600));
        let day = Duration::from_secs(86_400);
        let mut pace = Pace::default();
        assert_eq!(
            pace.interval(1_000_000, day, min, max),
            min,
            "nothing spent yet"
        );
        pace.record(10_000);
        // 100 rounds left in a day: one every 864 s.
        assert_eq!(
            pace.interval(1_000_000, day, min, max),
            Duration::from_secs(864)
        );
        // Spending faster, with less left: longer sleeps.
        pace.record(30_000);
        let slower = pace.interval(500_000, day, min, max);
        assert!(slower > Duration::from_secs(864), "{slower:?}");
        assert_eq!(pace.interval(0, day, min, max), max);
        assert_eq!(pace.interval(u64::MAX, day, min, max), min);
    }
}
