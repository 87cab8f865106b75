# Private Container Registry namespace holding the one agentops image.
# Push with: docker login rg.<region>.scw.cloud -u nologin --password-stdin <<< "$SCW_SECRET_KEY"

resource "scaleway_registry_namespace" "main" {
  name        = local.registry_namespace_name
  description = "AgentOps images"
  is_public   = false
  region      = var.region
}
