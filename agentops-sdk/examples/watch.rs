//! Prints events as they happen, resuming after the last one across disconnections.
//!
//! ```sh
//! AGENTOPS_API_KEY=aok_... cargo run -p agentops-sdk --example watch              # everything
//! AGENTOPS_API_KEY=aok_... cargo run -p agentops-sdk --example watch -- 'task.*' 0  # task events since the start
//! ```
//!
//! Arguments: comma-separated type patterns (default all), then an event id to start
//! after (default: only new events).

use agentops_sdk::Client;
use agentops_sdk::types::EventFilter;
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> agentops_sdk::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut filter = EventFilter::new();
    if let Some(types) = args.next() {
        filter = filter.types(types.split(',').map(str::trim).filter(|t| !t.is_empty()));
    }
    if let Some(since) = args.next().and_then(|s| s.parse().ok()) {
        filter = filter.since(since);
    }

    let client = Client::from_env()?;
    let mut events = client.events().subscribe(filter);
    events.start().await?;
    eprintln!(
        "watching (after event {:?}); Ctrl-C to stop",
        events.last_id()
    );
    while let Some(event) = events.next().await {
        let event = event?;
        let about = event
            .task_id
            .map(|id| format!("task {id}"))
            .or_else(|| event.agent_id.map(|id| format!("agent {id}")))
            .or_else(|| event.project_id.map(|id| format!("project {id}")))
            .unwrap_or_default();
        println!(
            "#{:<8} {}  {:<18} {about}",
            event.id,
            event.created_at.format("%H:%M:%S"),
            event.kind
        );
    }
    Ok(())
}
