//! Raw HTTP on [`TestApp`]: requests as any client would send them (a key or none,
//! any body), answers as status and JSON, for the API's own contract tests; and the
//! fixtures built that way.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::TestApp;

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with `key` (or none).
    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(Some(&self.key), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// POST that must answer `expected`; returns the body.
    pub async fn post_ok(&self, path: &str, body: Value, expected: StatusCode) -> Value {
        let (status, value) = self.post(path, body).await;
        assert_eq!(status, expected, "POST {path} answered {status}: {value}");
        value
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, value) = self.get(path).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "GET {path} answered {status}: {value}"
        );
        value
    }

    pub async fn create_project(&self, name: &str) -> Uuid {
        let body = self
            .post_ok(
                "/api/v1/projects",
                json!({ "name": name }),
                StatusCode::CREATED,
            )
            .await;
        id_of(&body)
    }

    pub async fn create_task(&self, project_id: Uuid, extra: Value) -> Value {
        let mut body = json!({ "project_id": project_id, "title": "a task" });
        merge(&mut body, extra);
        self.post_ok("/api/v1/tasks", body, StatusCode::CREATED)
            .await
    }

    pub async fn register_agent(&self, name: &str) -> Uuid {
        let body = self
            .post_ok("/api/v1/agents", json!({ "name": name }), StatusCode::OK)
            .await;
        id_of(&body)
    }

    /// Claims with `body` merged over `{agent_id}`; returns the claimed tasks.
    pub async fn claim(&self, agent_id: Uuid, extra: Value) -> Vec<Value> {
        let mut body = json!({ "agent_id": agent_id });
        merge(&mut body, extra);
        let out = self
            .post_ok("/api/v1/tasks/claim", body, StatusCode::OK)
            .await;
        out["tasks"].as_array().cloned().unwrap_or_default()
    }

    pub async fn create_key(&self, role: &str) -> String {
        let body = self
            .post_ok(
                "/api/v1/keys",
                json!({ "name": format!("{role}-key"), "role": role }),
                StatusCode::CREATED,
            )
            .await;
        body["secret"].as_str().unwrap().to_owned()
    }

    /// The types of the events about one task, oldest first.
    pub async fn task_event_kinds(&self, task_id: Uuid) -> Vec<String> {
        self.events()
            .await
            .into_iter()
            .filter(|e| e.task_id == Some(task_id))
            .map(|e| e.kind)
            .collect()
    }

    /// The server's `/metrics` page.
    pub async fn metrics(&self) -> String {
        metrics_of(&self.http, &self.url("/metrics")).await
    }

    /// Every event in the log, oldest first (every write answered so far included).
    pub async fn events(&self) -> Vec<agentops_sdk::types::Event> {
        self.state.events.flush().await.unwrap();
        let known = self.state.events.delivered();
        agentops_api::store::events::list_after(&self.state.db, 0, known, 1_000_000)
            .await
            .unwrap()
    }

    /// Waits until `check` holds for the task as the API shows it (raw JSON), polling;
    /// panics after `timeout`.
    pub async fn wait_for_task_json(
        &self,
        id: Uuid,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = self.get_ok(&format!("/api/v1/tasks/{id}")).await;
            if check(&task) {
                return task;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task never reached the expected state: {task}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The Prometheus page at `url`.
pub async fn metrics_of(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

pub fn id_of(value: &Value) -> Uuid {
    value["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {value}"))
}

pub fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        for (k, v) in extra {
            target.insert(k, v);
        }
    }
}
