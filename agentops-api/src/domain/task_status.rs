//! The task status machine in one table: what each action does from each status.
//!
//! ```text
//! waiting ──(dependencies completed)──▶ queued ──claim──▶ running ──complete──▶ completed
//!                                        ▲  ▲               │  │
//!                              unblock ──┘  └─ fail(retry) /┘  ├──block──▶ blocked
//!                                             lease expiry     └──fail(final) / last attempt──▶ failed
//! any unfinished status ──cancel──▶ cancelled   (tasks waiting on a failed or cancelled task are cancelled too)
//! ```
//!
//! Every status change of the domain goes through [`transition`]; the claim and the
//! completion, which change many rows in one statement, select exactly the rows the table
//! lets them change (`status = 'queued'`, `status = 'running'`), and their tests hold
//! them to it.

use agentops_sdk::types::{ErrorCode, TaskStatus};

use crate::error::DomainError;

/// What is done to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    /// The last of its dependencies completed.
    DependenciesDone,
    /// An agent claims it.
    Claim,
    /// Its agent extends the lease (the status stays).
    Heartbeat,
    /// Its agent reports success.
    Complete,
    /// Its agent reports failure, or its lease expired: back to the queue while
    /// `retry`, failed for good otherwise.
    Fail {
        /// Whether another attempt follows.
        retry: bool,
    },
    /// Its agent needs a human.
    Block,
    /// Its agent gives it back without using up an attempt.
    Release,
    /// A person puts a blocked task back in the queue.
    Unblock,
    /// A person changes its fields (the status stays).
    Change,
    /// A person cancels it, or a task it depends on can no longer complete.
    Cancel,
}

impl TaskAction {
    /// The verb, for "cannot … a task that is …".
    pub fn verb(self) -> &'static str {
        match self {
            TaskAction::DependenciesDone => "queue",
            TaskAction::Claim => "claim",
            TaskAction::Heartbeat => "heartbeat",
            TaskAction::Complete => "complete",
            TaskAction::Fail { .. } => "fail",
            TaskAction::Block => "block",
            TaskAction::Release => "release",
            TaskAction::Unblock => "unblock",
            TaskAction::Change => "change",
            TaskAction::Cancel => "cancel",
        }
    }
}

/// The status `action` leads to from `from`, or `invalid_transition` (409) if the table
/// does not allow it.
pub fn transition(from: TaskStatus, action: TaskAction) -> Result<TaskStatus, DomainError> {
    use TaskAction as A;
    use TaskStatus as S;
    let to = match (from, action) {
        (S::Waiting, A::DependenciesDone) => S::Queued,
        (S::Queued, A::Claim) => S::Running,
        (S::Running, A::Heartbeat) => S::Running,
        (S::Running, A::Complete) => S::Completed,
        (S::Running, A::Fail { retry: true }) => S::Queued,
        (S::Running, A::Fail { retry: false }) => S::Failed,
        (S::Running, A::Block) => S::Blocked,
        (S::Running, A::Release) => S::Queued,
        (S::Blocked, A::Unblock) => S::Queued,
        (S::Waiting | S::Queued | S::Blocked, A::Change) => from,
        (S::Waiting | S::Queued | S::Running | S::Blocked, A::Cancel) => S::Cancelled,
        _ => return Err(not_allowed(from, action)),
    };
    Ok(to)
}

/// The refusal of `action` from `from` (409 `invalid_transition`).
pub fn not_allowed(from: TaskStatus, action: TaskAction) -> DomainError {
    DomainError::refused(
        ErrorCode::InvalidTransition,
        format!("cannot {} a task that is {from}", action.verb()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIONS: [TaskAction; 11] = [
        TaskAction::DependenciesDone,
        TaskAction::Claim,
        TaskAction::Heartbeat,
        TaskAction::Complete,
        TaskAction::Fail { retry: true },
        TaskAction::Fail { retry: false },
        TaskAction::Block,
        TaskAction::Release,
        TaskAction::Unblock,
        TaskAction::Change,
        TaskAction::Cancel,
    ];

    #[test]
    fn a_final_status_never_changes() {
        for from in TaskStatus::ALL.iter().copied().filter(|s| s.is_final()) {
            for action in ACTIONS {
                let refused = transition(from, action).unwrap_err();
                assert!(
                    matches!(
                        refused,
                        DomainError::Refused {
                            code: ErrorCode::InvalidTransition,
                            ..
                        }
                    ),
                    "{from} {action:?}"
                );
            }
        }
    }

    #[test]
    fn only_a_running_task_is_reported_on_by_its_agent() {
        for action in [
            TaskAction::Heartbeat,
            TaskAction::Complete,
            TaskAction::Fail { retry: true },
            TaskAction::Block,
            TaskAction::Release,
        ] {
            for from in TaskStatus::ALL.iter().copied() {
                assert_eq!(
                    transition(from, action).is_ok(),
                    from == TaskStatus::Running,
                    "{from} {action:?}"
                );
            }
        }
    }

    #[test]
    fn the_table_reads_as_the_diagram() {
        use TaskStatus as S;
        let allowed: Vec<(S, TaskAction, S)> = TaskStatus::ALL
            .iter()
            .flat_map(|&from| ACTIONS.iter().map(move |&action| (from, action)))
            .filter_map(|(from, action)| Some((from, action, transition(from, action).ok()?)))
            .collect();
        assert!(allowed.contains(&(S::Waiting, TaskAction::DependenciesDone, S::Queued)));
        assert!(allowed.contains(&(S::Queued, TaskAction::Claim, S::Running)));
        assert!(allowed.contains(&(S::Running, TaskAction::Fail { retry: false }, S::Failed)));
        assert!(allowed.contains(&(S::Blocked, TaskAction::Unblock, S::Queued)));
        assert!(
            !allowed
                .iter()
                .any(|(from, action, _)| *from == S::Queued && *action == TaskAction::Complete)
        );
        assert_eq!(
            transition(S::Completed, TaskAction::Cancel)
                .unwrap_err()
                .to_string(),
            "cannot cancel a task that is completed"
        );
        // Every unfinished status can be cancelled; no other action reaches `cancelled`.
        for (from, action, to) in &allowed {
            assert_eq!(
                *to == S::Cancelled,
                *action == TaskAction::Cancel,
                "{from} {action:?}"
            );
        }
    }
}
