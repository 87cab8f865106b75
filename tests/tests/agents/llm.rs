//! The LLM port's adapters against stand-ins that speak the OpenAI protocol over HTTP:
//! what goes on the wire, and a fallback list that survives a provider outage.

use std::time::Duration;

use agentops_agents::llm::{LlmConfig, LlmError, Message, Tool};
use axum::http::StatusCode;
use serde_json::json;

use crate::llm_standin::LlmStandIn;

fn config(base: &str, key: &str, model: &str) -> LlmConfig {
    LlmConfig {
        base_url: base.to_owned(),
        api_key: key.to_owned(),
        model: model.to_owned(),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn a_call_sends_the_conversation_tools_and_key_and_reads_the_answer_and_its_cost() {
    let standin = LlmStandIn::spawn().await;
    standin.reply(json!({"role": "assistant", "content": "hello"}));
    let llm = agentops_agents::llm::Llm::new(config(&standin.base, "sk-1", "small")).unwrap();
    let tool = Tool {
        name: "lookup".into(),
        description: "Looks a thing up.".into(),
        parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
    };
    let completion = llm
        .chat(&[Message::system("be brief"), Message::user("hi")], &[tool])
        .await
        .unwrap();
    assert_eq!(completion.message.content.as_deref(), Some("hello"));
    assert_eq!(completion.usage.prompt_tokens, 100);
    assert_eq!(completion.usage.completion_tokens, 10);
    assert_eq!(completion.model, "small");
    let requests = standin.requests();
    assert_eq!(requests.len(), 1);
    let (bearer, body) = &requests[0];
    assert_eq!(bearer.as_deref(), Some("sk-1"));
    assert_eq!(body["model"], "small");
    assert_eq!(body["stream"], false);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "hi");
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "lookup");
}

#[tokio::test]
async fn without_a_key_no_authorization_header_is_sent() {
    let standin = LlmStandIn::spawn().await;
    standin.reply(json!({"role": "assistant", "content": "ok"}));
    let llm = agentops_agents::llm::Llm::new(config(&standin.base, "", "local")).unwrap();
    llm.chat(&[Message::user("hi")], &[]).await.unwrap();
    assert_eq!(standin.requests()[0].0, None);
}

#[tokio::test]
async fn a_key_a_header_cannot_carry_is_refused_when_the_client_is_built() {
    let err =
        agentops_agents::llm::Llm::new(config("http://127.0.0.1:9/v1", "sk\n1", "m")).unwrap_err();
    assert!(matches!(err, LlmError::Malformed(_)), "{err}");
}

#[tokio::test]
async fn errors_keep_their_status_and_say_whether_to_try_again() {
    let standin = LlmStandIn::spawn().await;
    standin.fail(StatusCode::TOO_MANY_REQUESTS);
    standin.fail(StatusCode::BAD_REQUEST);
    let llm = agentops_agents::llm::Llm::new(config(&standin.base, "k", "m")).unwrap();
    let limited = llm.chat(&[Message::user("a")], &[]).await.unwrap_err();
    assert!(
        matches!(limited, LlmError::Status { status: 429, .. }),
        "{limited}"
    );
    assert!(limited.is_transient());
    let refused = llm.chat(&[Message::user("b")], &[]).await.unwrap_err();
    assert!(
        matches!(refused, LlmError::Status { status: 400, .. }),
        "{refused}"
    );
    assert!(!refused.is_transient());

    // Bodies that are not OpenAI's error shape keep their status too.
    standin.fail_raw(StatusCode::TOO_MANY_REQUESTS, "<html>slow down</html>");
    standin.fail_raw(StatusCode::BAD_REQUEST, r#"{"error": "model not found"}"#);
    let limited = llm.chat(&[Message::user("c")], &[]).await.unwrap_err();
    assert!(
        matches!(&limited, LlmError::Status { status: 429, body } if body.contains("slow down")),
        "{limited}"
    );
    assert!(limited.is_transient());
    let refused = llm.chat(&[Message::user("d")], &[]).await.unwrap_err();
    assert!(
        matches!(&refused, LlmError::Status { status: 400, body } if body == "model not found"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_provider_that_is_down_hands_the_call_to_the_next_one() {
    let (first, second) = (LlmStandIn::spawn().await, LlmStandIn::spawn().await);
    first.fail(StatusCode::SERVICE_UNAVAILABLE);
    second.reply(json!({"role": "assistant", "content": "from the second"}));
    let llm = agentops_agents::llm::Llm::with_fallbacks(vec![
        // Nothing listens on the discard port: no answer at all.
        config("http://127.0.0.1:9/v1", "k0", "gone"),
        config(&first.base, "k1", "first"),
        config(&second.base, "k2", "second"),
    ])
    .unwrap();
    assert_eq!(llm.model(), "gone");
    let completion = llm.chat(&[Message::user("hi")], &[]).await.unwrap();
    assert_eq!(
        completion.message.content.as_deref(),
        Some("from the second")
    );
    assert_eq!(completion.model, "second");
    assert_eq!(first.requests().len(), 1);
    assert_eq!(second.requests().len(), 1);
    assert_eq!(second.requests()[0].0.as_deref(), Some("k2"));
}

#[tokio::test]
async fn a_refused_request_is_not_sent_to_the_next_provider_and_the_last_outage_is_told() {
    let (first, second) = (LlmStandIn::spawn().await, LlmStandIn::spawn().await);
    first.fail(StatusCode::BAD_REQUEST);
    let llm = agentops_agents::llm::Llm::with_fallbacks(vec![
        config(&first.base, "k", "first"),
        config(&second.base, "k", "second"),
    ])
    .unwrap();
    let err = llm.chat(&[Message::user("hi")], &[]).await.unwrap_err();
    assert!(matches!(err, LlmError::Status { status: 400, .. }), "{err}");
    assert!(second.requests().is_empty());

    // Every provider down: the last one's error.
    first.fail(StatusCode::BAD_GATEWAY);
    second.fail(StatusCode::SERVICE_UNAVAILABLE);
    let err = llm.chat(&[Message::user("again")], &[]).await.unwrap_err();
    assert!(matches!(err, LlmError::Status { status: 503, .. }), "{err}");
    assert!(agentops_agents::llm::Llm::with_fallbacks(Vec::new()).is_err());
}
