# Violates CKV2_AGENTOPS_9: secrets passed as plain environment variables.
resource "scaleway_container_namespace" "secret_plain" {
  name = "bad-ns-secret-plain"
  environment_variables = {
    LLM_API_KEY = "sk-not-a-real-key"
  }
}

resource "scaleway_container" "secret_plain" {
  name         = "bad-secret-plain"
  namespace_id = scaleway_container_namespace.secret_plain.id
  environment_variables = {
    AGENTOPS_BIND      = "0.0.0.0:8080"
    AGENTOPS_ADMIN_KEY = "not-a-real-admin-key"
  }
}

resource "scaleway_container" "token_plain" {
  name         = "bad-token-plain"
  namespace_id = scaleway_container_namespace.secret_plain.id
  environment_variables = {
    TELEGRAM_BOT_TOKEN = "123:not-a-real-token"
  }
}
