resource "random_password" "admin_key" {
  length  = 48
  special = false
}

# The master key stored secrets (persona owners' provider keys) are sealed under:
# 32 random bytes, shared by every API replica.
resource "random_id" "secret_key" {
  byte_length = 32
}

resource "random_password" "telegram_webhook_secret" {
  length  = 48
  special = false
}

locals {
  tags = distinct(concat(["agentops", "managed-by-terraform"], var.tags))

  bucket_name             = coalesce(var.bucket_name, "${var.name_prefix}-artifacts-${random_id.suffix.hex}")
  registry_namespace_name = coalesce(var.registry_namespace_name, "${var.name_prefix}-${random_id.suffix.hex}")

  image = "${scaleway_registry_namespace.main.endpoint}/${var.image_name}:${var.image_tag}"

  # --- connection strings (secrets) -------------------------------------
  db_host = scaleway_rdb_instance.main.private_network[0].ip
  db_port = scaleway_rdb_instance.main.private_network[0].port

  # TLS is always on for Managed Databases; sslmode=require encrypts without
  # pinning the instance certificate (export it with `terraform output` if
  # you want verify-full).
  database_url = format(
    "postgres://%s:%s@%s:%d/%s?sslmode=require",
    scaleway_rdb_user.app.name,
    urlencode(random_password.db_app.result),
    local.db_host,
    local.db_port,
    scaleway_rdb_database.main.name,
  )

  redis_host = scaleway_redis_cluster.main.private_ips[0].address
  # rediss:// = TLS. The cluster's CA is exported as the `redis_ca_certificate` output.
  redis_url = format(
    "rediss://%s:%s@%s:6379",
    scaleway_redis_cluster.main.user_name,
    urlencode(random_password.redis.result),
    local.redis_host,
  )

  create_s3_credentials = nonsensitive(var.s3_access_key_id == "")
  s3_access_key_id      = local.create_s3_credentials ? scaleway_iam_api_key.s3[0].access_key : var.s3_access_key_id
  s3_secret_access_key  = local.create_s3_credentials ? scaleway_iam_api_key.s3[0].secret_key : var.s3_secret_access_key
  s3_endpoint           = "https://s3.${var.region}.scw.cloud"

  admin_key     = var.admin_key != "" ? var.admin_key : random_password.admin_key.result
  secret_key    = var.secret_key != "" ? var.secret_key : random_id.secret_key.b64_std
  agent_api_key = var.agent_api_key != "" ? var.agent_api_key : local.admin_key

  # --- public URLs ----------------------------------------------------------
  api_default_url = var.create_containers ? "https://${scaleway_container.api[0].domain_name}" : ""
  api_url         = var.api_domain != "" ? "https://${var.api_domain}" : local.api_default_url
  chief_url       = var.create_containers && var.enable_chief_of_staff ? "https://${scaleway_container.chief_of_staff[0].domain_name}" : ""
  # The dashboard is served by the API itself (same origin), so CORS is only
  # needed for other origins. Must not depend on the API container (cycle).
  cors_origins = (
    length(var.cors_origins) > 0 ? join(",", var.cors_origins) :
    var.api_domain != "" ? "https://${var.api_domain}" : ""
  )

  telegram_webhook_url = (
    var.telegram_webhook_url != "" ? var.telegram_webhook_url :
    var.telegram_domain != "" ? "https://${var.telegram_domain}${var.telegram_webhook_path}" : ""
  )
  telegram_webhook_secret = var.telegram_webhook_secret != "" ? var.telegram_webhook_secret : random_password.telegram_webhook_secret.result
}
