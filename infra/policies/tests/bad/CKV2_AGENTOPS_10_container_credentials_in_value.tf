# Violates CKV2_AGENTOPS_10: credentials inside a plain variable's value,
# under a name that does not look secret.
resource "scaleway_container_namespace" "credentials_in_value" {
  name = "bad-ns-credentials-in-value"
}

resource "scaleway_container" "credentials_in_value" {
  name         = "bad-credentials-in-value"
  namespace_id = scaleway_container_namespace.credentials_in_value.id
  environment_variables = {
    UPSTREAM = "postgres://agentops:hunter2@10.0.0.5:5432/agentops"
  }
}
