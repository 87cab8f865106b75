//! Placeholder until the Telegram issue: the Telegram interface lives here and uses only `agentops-sdk`.
