//! How a plan's tasks are going, told in the conversation the plan came from while they
//! run, so a person who said OK in a chat sees the work move there (not only on the
//! dashboard) before the final report.
//!
//! The executor hands this every event of a task a plan made (its `plan:<approval id>`
//! label):
//! - a task that starts, reports progress, is tried again, or ends before the plan's
//!   last one becomes a **line** ("▶️ #a1b2c3 "Write the page" started",
//!   "⏳ #a1b2c3 "Write the page": 40% · step 2/5: run …"). Lines are gathered per plan
//!   and said together, at most once per [`ProgressConfig::every`] (30 s by default):
//!   the first at once, the next when the interval is up, each task's latest line only,
//!   so a busy plan never floods the chat. Lines still gathered when the plan ends are
//!   dropped: the final report says it all.
//! - a task that **blocks** on a question is said at once, with how to answer it.
//!
//! A conversation can turn the lines off ("/progress off", stored in its thread's
//! `metadata.progress`); questions and the final report still come. Messages carry
//! [`PLAN_PROGRESS`] (lines) or [`PLAN_QUESTION`] in their metadata: an interface may
//! deliver lines quietly and not read them aloud, and the Chief leaves lines out of the
//! history it thinks with. Each message is posted with an idempotency key (the plan and
//! the interval of its lines; the event of a question), so Chiefs running side by side
//! say it once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use agentops_sdk::text::truncate;
use agentops_sdk::types::TaskOut;
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;

use super::actions::short_id;

pub use agentops_sdk::types::{PLAN_PROGRESS, PLAN_QUESTION};

/// The key of a thread's metadata that turns the lines off (`"off"`) or on (`"on"`, or
/// absent).
pub const SETTING: &str = "progress";

/// How often, at most, a plan's conversation is told how its tasks are going.
pub const EVERY: Duration = Duration::from_secs(30);

/// Lines in one message at most; the rest are counted.
const LINES_MAX: usize = 8;

/// The longest part of a line taken from what an agent said (a progress message, an
/// error, a summary), in characters.
const SAID_MAX: usize = 300;

/// A plan not heard of for this long is forgotten (its tasks went quiet, or it ended
/// while another Chief reported it).
const IDLE: Duration = Duration::from_secs(6 * 3600);

/// How a plan's progress is told.
#[derive(Debug, Clone, Copy)]
pub struct ProgressConfig {
    /// Gathered lines are said at most this often per plan; `None`: never (only
    /// questions and the final report).
    pub every: Option<Duration>,
}

impl Default for ProgressConfig {
    fn default() -> Self {
        Self { every: Some(EVERY) }
    }
}

/// What a task's event says, as a line for people (`None`: nothing worth saying).
pub(crate) fn line(kind: &str, task: &TaskOut) -> Option<String> {
    let name = format!("{} \"{}\"", short_id(task.id), task.title);
    let said = |text: &str| truncate(text.trim(), SAID_MAX);
    Some(match kind {
        "task.claimed" if task.attempts > 0 => format!(
            "▶️ {name} started again (attempt {} of {})",
            task.attempts + 1,
            task.max_attempts
        ),
        "task.claimed" => format!("▶️ {name} started"),
        "task.progress" => {
            let percent = task
                .progress
                .map(|p| format!("{:.0}%", (p * 100.0).clamp(0.0, 100.0)));
            let message = task
                .progress_message
                .as_deref()
                .filter(|m| !m.trim().is_empty())
                .map(said);
            match (percent, message) {
                (Some(p), Some(m)) => format!("⏳ {name}: {p} · {m}"),
                (Some(p), None) => format!("⏳ {name}: {p}"),
                (None, Some(m)) => format!("⏳ {name}: {m}"),
                (None, None) => return None,
            }
        }
        "task.requeued" => format!(
            "🔁 {name} will be tried again (attempt {} of {}): {}",
            task.attempts + 1,
            task.max_attempts,
            said(task.error.as_deref().unwrap_or("(no reason given)"))
        ),
        "task.completed" => match task
            .result
            .as_ref()
            .and_then(|r| r.get("summary"))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
        {
            Some(summary) => format!("✅ {name} done: {}", said(summary)),
            None => format!("✅ {name} done"),
        },
        "task.failed" | "task.dead" => format!(
            "❌ {name} failed: {}",
            said(task.error.as_deref().unwrap_or("(no error given)"))
        ),
        "task.cancelled" => format!(
            "✖️ {name} cancelled: {}",
            said(task.error.as_deref().unwrap_or("(no reason given)"))
        ),
        _ => return None,
    })
}

/// What a task that blocked asks, and how to answer it.
pub(crate) fn question(task: &TaskOut) -> String {
    let code = short_id(task.id);
    format!(
        "❓ {code} \"{}\" needs an answer: {}\nReply here with your answer (or any time: unblock {code} with your answer).",
        task.title,
        truncate(
            task.block_reason
                .as_deref()
                .unwrap_or("(no question given)")
                .trim(),
            2_000
        )
    )
}

/// The plans whose lines are being gathered, by approval id.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    plans: Mutex<HashMap<Uuid, Plan>>,
}

#[derive(Debug)]
struct Plan {
    thread: Uuid,
    /// Its report was made: nothing more is said of it.
    ended: bool,
    /// The newest event among the lines gathered (their idempotency key).
    newest: i64,
    /// When its lines were last said (by this process).
    said: Option<Instant>,
    /// Each task's latest line not said yet, in the order the tasks first moved.
    lines: Vec<(Uuid, String)>,
    /// Whether a later saying of the lines is already on its way.
    due: bool,
    /// When it was last heard of.
    heard: Instant,
}

/// Lines to say: in this thread, this text, the newest event they tell of.
pub(crate) type Lines = (Uuid, String, i64);

/// What to do after a line was gathered.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    /// Say these lines now.
    Say(Lines),
    /// Say the plan's lines after this long ([`Tracker::take`]).
    After(Duration),
    /// Nothing: they will be said when the interval is up.
    Wait,
}

impl Tracker {
    fn plans(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Plan>> {
        self.plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The thread of plan `approval`, if known here.
    pub(crate) fn thread_of(&self, approval: Uuid) -> Option<Uuid> {
        self.plans().get(&approval).map(|p| p.thread)
    }

    /// Gathers `line` of `task` of plan `approval` (told in `thread`), from event
    /// number `event`; says when they are to be said, `every` apart at most. With `hold`
    /// (the plan is still being carried out, and the conversation not yet told what it
    /// made), they wait for [`take`](Self::take). Nothing is gathered for a plan whose
    /// report was made.
    pub(crate) fn gather(
        &self,
        approval: Uuid,
        thread: Uuid,
        (task, event, line): (Uuid, i64, String),
        every: Duration,
        hold: bool,
    ) -> Next {
        let now = Instant::now();
        let mut plans = self.plans();
        plans.retain(|_, p| now.duration_since(p.heard) < IDLE);
        let plan = plans.entry(approval).or_insert(Plan {
            thread,
            ended: false,
            newest: 0,
            said: None,
            lines: Vec::new(),
            due: false,
            heard: now,
        });
        plan.heard = now;
        if plan.ended {
            return Next::Wait;
        }
        match plan.lines.iter_mut().find(|(id, _)| *id == task) {
            Some(kept) => kept.1 = line,
            None => plan.lines.push((task, line)),
        }
        plan.newest = plan.newest.max(event);
        if plan.due || hold {
            plan.due = true;
            return Next::Wait;
        }
        match plan.said.map(|at| now.duration_since(at)) {
            Some(since) if since < every => {
                plan.due = true;
                Next::After(every - since)
            }
            _ => {
                plan.said = Some(now);
                Next::Say(said(plan))
            }
        }
    }

    /// The lines of plan `approval` gathered since they were last said, now that they are
    /// due (`None` if there are none, or the plan ended meanwhile).
    pub(crate) fn take(&self, approval: Uuid) -> Option<Lines> {
        let mut plans = self.plans();
        let plan = plans.get_mut(&approval)?;
        plan.due = false;
        if plan.lines.is_empty() || plan.ended {
            return None;
        }
        plan.said = Some(Instant::now());
        Some(said(plan))
    }

    /// Whether plan `approval`'s report was made (by this process).
    pub(crate) fn ended(&self, approval: Uuid) -> bool {
        self.plans().get(&approval).is_some_and(|p| p.ended)
    }

    /// Marks plan `approval` reported: lines still gathered are dropped, and none is
    /// gathered or said after it.
    pub(crate) fn finish(&self, approval: Uuid, thread: Uuid) {
        let now = Instant::now();
        let mut plans = self.plans();
        let plan = plans.entry(approval).or_insert(Plan {
            thread,
            ended: true,
            newest: 0,
            said: None,
            lines: Vec::new(),
            due: false,
            heard: now,
        });
        plan.ended = true;
        plan.lines.clear();
        plan.heard = now;
    }
}

/// The lines `plan` gathered, taken to be said.
fn said(plan: &mut Plan) -> Lines {
    (
        plan.thread,
        text(std::mem::take(&mut plan.lines)),
        plan.newest,
    )
}

/// Gathered lines as one message.
fn text(lines: Vec<(Uuid, String)>) -> String {
    let more = lines.len().saturating_sub(LINES_MAX);
    let mut text: Vec<String> = lines.into_iter().take(LINES_MAX).map(|(_, l)| l).collect();
    if more > 0 {
        text.push(format!(
            "… and {more} more {} moved",
            if more == 1 { "task" } else { "tasks" }
        ));
    }
    text.join("\n")
}

/// `every` for people: "30 seconds", "2 minutes", "1 minute 30 seconds".
pub(crate) fn spoken(every: Duration) -> String {
    let secs = every.as_secs().max(1);
    let unit = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (secs / 60, secs % 60) {
        (0, s) => unit(s, "second"),
        (m, 0) => unit(m, "minute"),
        (m, s) => format!("{} {}", unit(m, "minute"), unit(s, "second")),
    }
}

/// The idempotency key of plan `approval`'s lines whose newest event is `newest`: the
/// same lines said by another Chief that gathered the same events are said once, and
/// the next lines of one Chief always have a key of their own.
pub(crate) fn key(approval: Uuid, newest: i64) -> String {
    format!("{PLAN_PROGRESS}:{approval}:{newest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(title: &str) -> TaskOut {
        TaskOut {
            id: Uuid::parse_str("01a2314a-2459-7710-9c2e-6891fd54703c").unwrap(),
            project_id: Uuid::nil(),
            title: title.into(),
            description: None,
            kind: "seed".into(),
            labels: Vec::new(),
            priority: 0,
            input: Value::Null,
            status: agentops_sdk::types::TaskStatus::Running,
            depends_on: Vec::new(),
            attempts: 0,
            max_attempts: 3,
            agent_id: None,
            lease_expires_at: None,
            not_before: None,
            progress: None,
            progress_message: None,
            result: None,
            error: None,
            block_reason: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn events_become_lines_for_people() {
        let mut t = task("Write the page");
        assert_eq!(
            line("task.claimed", &t).unwrap(),
            "▶️ #54703c \"Write the page\" started"
        );
        t.progress = Some(0.4);
        t.progress_message = Some("step 2/5: run python3 -m http.server".into());
        assert_eq!(
            line("task.progress", &t).unwrap(),
            "⏳ #54703c \"Write the page\": 40% · step 2/5: run python3 -m http.server"
        );
        t.progress_message = None;
        assert_eq!(
            line("task.progress", &t).unwrap(),
            "⏳ #54703c \"Write the page\": 40%"
        );
        t.progress = None;
        assert_eq!(line("task.progress", &t), None);
        t.attempts = 1;
        t.error = Some("exit status 1".into());
        assert_eq!(
            line("task.requeued", &t).unwrap(),
            "🔁 #54703c \"Write the page\" will be tried again (attempt 2 of 3): exit status 1"
        );
        assert_eq!(
            line("task.claimed", &t).unwrap(),
            "▶️ #54703c \"Write the page\" started again (attempt 2 of 3)"
        );
        t.result = Some(serde_json::json!({"summary": "wrote index.html"}));
        assert_eq!(
            line("task.completed", &t).unwrap(),
            "✅ #54703c \"Write the page\" done: wrote index.html"
        );
        assert_eq!(line("task.updated", &t), None);
        t.block_reason = Some("Which colour?".into());
        assert_eq!(
            question(&t),
            "❓ #54703c \"Write the page\" needs an answer: Which colour?\nReply here with your answer (or any time: unblock #54703c with your answer)."
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lines_are_said_at_most_once_an_interval_each_tasks_latest() {
        let tracker = Tracker::default();
        let (plan, thread) = (Uuid::new_v4(), Uuid::new_v4());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let every = Duration::from_secs(30);
        let line = |task: Uuid, event: i64, text: &str| (task, event, text.to_owned());
        assert_eq!(
            tracker.gather(plan, thread, line(a, 1, "a started"), every, false),
            Next::Say((thread, "a started".into(), 1))
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            tracker.gather(plan, thread, line(a, 2, "a 10%"), every, false),
            Next::After(Duration::from_secs(20))
        );
        assert_eq!(
            tracker.gather(plan, thread, line(b, 3, "b started"), every, false),
            Next::Wait
        );
        assert_eq!(
            tracker.gather(plan, thread, line(a, 4, "a 50%"), every, false),
            Next::Wait
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(
            tracker.take(plan),
            Some((thread, "a 50%\nb started".into(), 4))
        );
        assert_eq!(tracker.take(plan), None, "nothing new");
        // A plan whose report was made drops what it gathered, and gathers nothing more.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(matches!(
            tracker.gather(plan, thread, line(b, 5, "b 90%"), every, false),
            Next::After(_)
        ));
        assert!(!tracker.ended(plan));
        tracker.finish(plan, thread);
        assert!(tracker.ended(plan));
        assert_eq!(tracker.take(plan), None);
        tokio::time::advance(every).await;
        assert_eq!(
            tracker.gather(plan, thread, line(b, 6, "b done"), every, false),
            Next::Wait
        );
        assert_eq!(tracker.take(plan), None);
        // Reported before any line came (another event of it first): the same.
        let other = Uuid::new_v4();
        tracker.finish(other, thread);
        assert_eq!(
            tracker.gather(other, thread, line(a, 7, "late"), every, false),
            Next::Wait
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lines_of_a_plan_still_being_carried_out_wait_for_it() {
        let tracker = Tracker::default();
        let (plan, thread, task) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let every = Duration::from_secs(30);
        assert_eq!(
            tracker.gather(plan, thread, (task, 8, "started".into()), every, true),
            Next::Wait
        );
        assert_eq!(
            tracker.gather(plan, thread, (task, 9, "10%".into()), every, false),
            Next::Wait
        );
        assert_eq!(tracker.take(plan), Some((thread, "10%".into(), 9)));
        tokio::time::advance(every).await;
        assert_eq!(
            tracker.gather(plan, thread, (task, 10, "20%".into()), every, false),
            Next::Say((thread, "20%".into(), 10))
        );
    }

    #[test]
    fn many_tasks_at_once_are_counted_past_a_few_lines() {
        let lines = (0..11)
            .map(|i| (Uuid::new_v4(), format!("line {i}")))
            .collect();
        let said = text(lines);
        assert_eq!(said.lines().count(), LINES_MAX + 1);
        assert!(said.ends_with("… and 3 more tasks moved"), "{said}");
    }

    #[test]
    fn intervals_are_said_in_words() {
        assert_eq!(spoken(Duration::from_secs(30)), "30 seconds");
        assert_eq!(spoken(Duration::from_millis(300)), "1 second");
        assert_eq!(spoken(Duration::from_secs(120)), "2 minutes");
        assert_eq!(spoken(Duration::from_secs(90)), "1 minute 30 seconds");
    }

    #[test]
    fn lines_are_keyed_by_their_plan_and_newest_event() {
        let plan = Uuid::new_v4();
        assert_eq!(key(plan, 41), format!("plan_progress:{plan}:41"));
        assert_ne!(key(plan, 41), key(plan, 42));
    }
}
