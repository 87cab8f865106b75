output "api_url" {
  description = "Public URL of the API (custom domain if set, else the container's default domain)."
  value       = local.api_url
}

output "api_default_url" {
  description = "The API container's own *.scw.cloud URL (CNAME target for api_domain)."
  value       = local.api_default_url
}

output "telegram_url" {
  description = "Default URL of the Telegram webhook container (append telegram_webhook_path for TELEGRAM_WEBHOOK_URL)."
  value       = length(scaleway_container.telegram) > 0 ? "https://${scaleway_container.telegram[0].domain_name}" : ""
}

output "registry_endpoint" {
  description = "Registry namespace endpoint (docker login rg.<region>.scw.cloud; push <endpoint>/<image>:<tag>)."
  value       = scaleway_registry_namespace.main.endpoint
}

output "image_repository" {
  description = "Image repository without tag, as used by infra/deploy.sh (IMAGE_REPO)."
  value       = "${scaleway_registry_namespace.main.endpoint}/${var.image_name}"
}

output "container_ids" {
  description = "Serverless container IDs by role, for infra/deploy.sh (CONTAINER_IDS)."
  value = merge(
    { for c in scaleway_container.api : "api" => c.id },
    { for c in scaleway_container.chief_of_staff : "chief-of-staff" => c.id },
    { for c in scaleway_container.seed : "seed" => c.id },
    { for c in scaleway_container.telegram : "telegram" => c.id },
  )
}

output "deploy_env" {
  description = "Non-secret settings for infra/deploy.sh: eval \"$(terraform output -raw deploy_env)\"."
  value = join("\n", [
    "export IMAGE_REPO='${scaleway_registry_namespace.main.endpoint}/${var.image_name}'",
    "export API_URL='${local.api_url}'",
    "export SCW_REGION='${var.region}'",
    "export CONTAINER_IDS='${join(" ", concat(
      [for c in scaleway_container.api : c.id],
      [for c in scaleway_container.chief_of_staff : c.id],
      [for c in scaleway_container.seed : c.id],
      [for c in scaleway_container.telegram : c.id],
    ))}'",
  ])
}

output "bucket_name" {
  description = "Artifact bucket."
  value       = scaleway_object_bucket.artifacts.name
}

output "s3_endpoint" {
  description = "S3 endpoint for the artifact bucket."
  value       = local.s3_endpoint
}

output "database_private_endpoint" {
  description = "host:port of PostgreSQL on the private network."
  value       = "${local.db_host}:${local.db_port}"
}

output "database_url" {
  description = "Application connection string (private network only)."
  value       = local.database_url
  sensitive   = true
}

output "database_admin_url" {
  description = "Instance administrator connection string, for backups and restores."
  value = format(
    "postgres://agentops_admin:%s@%s:%d/%s?sslmode=require",
    urlencode(random_password.db_admin.result), local.db_host, local.db_port, scaleway_rdb_database.main.name,
  )
  sensitive = true
}

output "database_tunnel_url" {
  description = "Application connection string through the bastion tunnel (bastion_tunnel_command) on 127.0.0.1:15432, for migrations."
  value = format(
    "postgres://%s:%s@127.0.0.1:15432/%s?sslmode=require",
    scaleway_rdb_user.app.name, urlencode(random_password.db_app.result), scaleway_rdb_database.main.name,
  )
  sensitive = true
}

output "database_ca_certificate" {
  description = "PEM certificate of the database instance (for sslmode=verify-ca)."
  value       = scaleway_rdb_instance.main.certificate
}

output "redis_url" {
  description = "Redis connection string (TLS, private network only)."
  value       = local.redis_url
  sensitive   = true
}

output "redis_ca_certificate" {
  description = "PEM certificate the Redis cluster presents for TLS."
  value       = scaleway_redis_cluster.main.certificate
}

output "s3_access_key_id" {
  description = "Access key used by the API for the artifact bucket."
  value       = local.s3_access_key_id
  sensitive   = true
}

output "s3_secret_access_key" {
  description = "Secret key used by the API for the artifact bucket."
  value       = local.s3_secret_access_key
  sensitive   = true
}

output "admin_key" {
  description = "Bootstrap admin API key (AGENTOPS_ADMIN_KEY)."
  value       = local.admin_key
  sensitive   = true
}

output "secret_key" {
  description = "Master key of stored secrets (AGENTOPS_SECRET_KEY): back it up with the database."
  value       = local.secret_key
  sensitive   = true
}

output "telegram_webhook_secret" {
  description = "Secret token Telegram must send with webhook calls."
  value       = local.telegram_webhook_secret
  sensitive   = true
}

output "bastion_tunnel_command" {
  description = "Opens a tunnel from 127.0.0.1:15432 to PostgreSQL through the SSH bastion (empty when enable_bastion = false)."
  value = var.enable_bastion ? format(
    "ssh -N -L 15432:%s:%d -p %d bastion@%s",
    local.db_host, local.db_port, var.bastion_port, scaleway_vpc_public_gateway_ip.bastion[0].address,
  ) : ""
}

output "load_balancer_ip" {
  description = "Public IPv4 of the optional load balancer (empty when disabled)."
  value       = var.enable_load_balancer ? scaleway_lb_ip.main[0].ip_address : ""
}
