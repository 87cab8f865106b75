# Credentials come from the environment (SCW_ACCESS_KEY, SCW_SECRET_KEY,
# SCW_DEFAULT_ORGANIZATION_ID) or from ~/.config/scw/config.yaml; never put
# them in this repository.
provider "scaleway" {
  region     = var.region
  zone       = var.zone
  project_id = var.project_id
}
