//! One handle per API resource (`client.tasks()`, `client.projects()`...), and the
//! listing request they share.
//!
//! Handles borrow the [`crate::Client`] and hold nothing else: make them on the
//! spot (`client.tasks().get(id)`), there is no cost to it.

mod agents;
mod artifacts;
mod budgets;
mod deployments;
mod events;
mod keys;
mod list;
mod pairings;
mod personas;
mod previews;
mod projects;
mod schedules;
mod tasks;
mod threads;
mod tools;
mod usage;

pub use agents::Agents;
pub use artifacts::{ArtifactUpload, Artifacts, Download};
pub use budgets::Budgets;
pub use deployments::Deployments;
pub use events::Events;
pub use keys::Keys;
pub use list::ListRequest;
pub use pairings::Pairings;
pub use personas::Personas;
pub use previews::Previews;
pub use projects::Projects;
pub use schedules::Schedules;
pub use tasks::Tasks;
pub use threads::{Approvals, Threads};
pub use tools::Tools;
pub use usage::{SummaryRequest, Usage};

use crate::Client;

impl Client {
    /// Projects: named groups of tasks.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let projects = client.projects().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn projects(&self) -> Projects<'_> {
        Projects { client: self }
    }

    /// Tasks, and the agent protocol (claim, heartbeat, complete, fail, block).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let task = client.tasks().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub fn tasks(&self) -> Tasks<'_> {
        Tasks { client: self }
    }

    /// Agents: registration, heartbeats, presence.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let agents = client.agents().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn agents(&self) -> Agents<'_> {
        Agents { client: self }
    }

    /// API keys (admin only).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let keys = client.keys().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn keys(&self) -> Keys<'_> {
        Keys { client: self }
    }

    /// Conversation threads and their messages (what the Chief of Staff and the
    /// interfaces in front of it talk through).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let threads = client.threads().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn threads(&self) -> Threads<'_> {
        Threads { client: self }
    }

    /// Approvals: plans proposed in threads, waiting for (or given) a human's OK.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ApprovalStatus;
    /// let waiting = client.approvals().list().status(ApprovalStatus::Pending).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn approvals(&self) -> Approvals<'_> {
        Approvals { client: self }
    }

    /// Artifacts: files attached to tasks and projects.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let files = client.artifacts().list().task(task_id).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn artifacts(&self) -> Artifacts<'_> {
        Artifacts { client: self }
    }

    /// The event log: listing and live subscription.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let recent = client.events().list().since(0).limit(10).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn events(&self) -> Events<'_> {
        Events { client: self }
    }

    /// The token ledger: every model call, what it cost, totals per group.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::UsageGroupBy;
    /// let per_model = client.usage().summary(UsageGroupBy::Model).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn usage(&self) -> Usage<'_> {
        Usage { client: self }
    }

    /// Schedules: tasks created on a cron expression, an interval or once.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let schedules = client.schedules().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn schedules(&self) -> Schedules<'_> {
        Schedules { client: self }
    }

    /// Budgets the server enforces, and the reservations agents take before a call.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let budgets = client.budgets().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn budgets(&self) -> Budgets<'_> {
        Budgets { client: self }
    }

    /// Deployments of the platform: each reports its steps (building, testing,
    /// deploying) and how it ended (healthy, rolled back, failed).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let recent = client.deployments().list().limit(10).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn deployments(&self) -> Deployments<'_> {
        Deployments { client: self }
    }

    /// Tools agents write for themselves (script, input schema, tests), their review
    /// (`pending_review` → `approved` or `rejected`; `retired`) and their runs.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ToolStatus;
    /// let to_review = client.tools().list().status(ToolStatus::PendingReview).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn tools(&self) -> Tools<'_> {
        Tools { client: self }
    }

    /// Previews: servers tasks started, shown at `/preview/<short id>/` for a while.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let previews = client.previews().list().task(task).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn previews(&self) -> Previews<'_> {
        Previews { client: self }
    }

    /// Pairings: the allowlist of chats an interface (the Telegram bot) serves, with
    /// the one-time codes operators approve (admin).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let pairing = client.pairings().approve("K7QM4XPA", None).await?;
    /// # Ok(()) }
    /// ```
    pub fn pairings(&self) -> Pairings<'_> {
        Pairings { client: self }
    }

    /// Personas: agents people create, share by link and talk to.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let public = client.personas().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn personas(&self) -> Personas<'_> {
        Personas {
            client: self,
            person: None,
        }
    }
}
