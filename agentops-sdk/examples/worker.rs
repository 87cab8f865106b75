//! The 20-line worker: echoes each `echo` task's input back as its result.
//!
//! ```sh
//! AGENTOPS_URL=http://127.0.0.1:8080 AGENTOPS_API_KEY=aok_... cargo run -p agentops-sdk --example worker
//! ```

use agentops_sdk::{Client, TaskContext, Worker};
use serde_json::json;

#[tokio::main]
async fn main() -> agentops_sdk::Result<()> {
    let client = Client::from_env()?;
    Worker::builder(client)
        .name("echo")
        .kinds(["echo"])
        .concurrency(4)
        .run(|task: TaskContext| async move { Ok(json!({ "echo": task.input() })) })
        .await
}
