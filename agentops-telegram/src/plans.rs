//! Plans in a chat: the message that proposed each one, who asked for it and who
//! answered it, so the message can be edited in place as the plan moves on (proposed →
//! approved by @ana → done, or failed and why, or rejected, or dropped) and, in a group,
//! only the person who asked or an administrator can answer it.
//!
//! What the bot knows of a plan is kept on the platform, in the metadata of the chat's
//! thread (`telegram_plans.<approval id>`: `message`, `asker`, `by`), merged key by key
//! (`PATCH /threads/{id}` is a JSON merge patch), so any restart of the bot still edits
//! the right message; an entry is removed once its plan is final.

use agentops_sdk::Client;
use agentops_sdk::types::{ApprovalOut, ApprovalStatus};
use serde_json::{Value, json};
use uuid::Uuid;

/// The key of the thread metadata that holds the chat's plans.
pub const KEY: &str = "telegram_plans";

/// What the bot knows of one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Note {
    /// The Telegram message that proposed it (the one with its buttons).
    pub message: Option<i32>,
    /// The Telegram user who asked for it.
    pub asker: Option<u64>,
    /// Who answered it with a button, as the chat names them.
    pub by: Option<String>,
}

/// Sets `fields` of plan `approval`'s note in thread `thread` (`null` for the whole
/// note removes it).
///
/// # Errors
/// If the platform refuses.
pub async fn write(
    client: &Client,
    thread: Uuid,
    approval: Uuid,
    fields: Value,
) -> Result<(), agentops_sdk::Error> {
    crate::merge_metadata(
        client,
        thread,
        json!({ KEY: { approval.to_string(): fields } }),
    )
    .await
}

/// The note of plan `approval` in thread `thread` (empty if there is none).
///
/// # Errors
/// If the platform cannot be read.
pub async fn read(
    client: &Client,
    thread: Uuid,
    approval: Uuid,
) -> Result<Note, agentops_sdk::Error> {
    let thread = client.threads().get(thread).await?;
    Ok(parse(&thread.metadata[KEY][approval.to_string()]))
}

fn parse(note: &Value) -> Note {
    Note {
        message: note["message"].as_i64().and_then(|m| i32::try_from(m).ok()),
        asker: note["asker"].as_u64(),
        by: note["by"].as_str().map(str::to_owned),
    }
}

/// The plan's message as it stands: its summary, then what became of it (`None` while
/// it waits for an answer).
pub fn text(approval: &ApprovalOut, note: &Note) -> Option<String> {
    let by = note
        .by
        .as_deref()
        .map(|who| format!(" by {who}"))
        .unwrap_or_default();
    let status = match approval.status {
        ApprovalStatus::Pending => return None,
        ApprovalStatus::Approved => format!("✅ Approved{by}: on it…"),
        ApprovalStatus::Executed => format!("✅ Approved{by}, and done."),
        ApprovalStatus::Failed => format!(
            "❌ Approved{by}, but it did not work: {}",
            approval.reason.as_deref().unwrap_or("(no reason given)")
        ),
        ApprovalStatus::Rejected => format!("✖ Rejected{by}."),
        ApprovalStatus::Superseded => {
            "↩ Dropped: a newer message came before an answer, so this plan will not run."
                .to_owned()
        }
    };
    Some(crate::messages::with_footer(&approval.summary, &status))
}

/// Whether the plan is over: its note can go.
pub fn is_final(status: ApprovalStatus) -> bool {
    !matches!(status, ApprovalStatus::Pending | ApprovalStatus::Approved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_reads_back_from_the_thread_metadata_it_was_merged_into() {
        let approval = Uuid::now_v7();
        let metadata =
            json!({ KEY: { approval.to_string(): {"message": 41, "asker": 7, "by": "@ana"} } });
        assert_eq!(
            parse(&metadata[KEY][approval.to_string()]),
            Note {
                message: Some(41),
                asker: Some(7),
                by: Some("@ana".into())
            }
        );
        assert_eq!(parse(&Value::Null), Note::default());
    }
}
