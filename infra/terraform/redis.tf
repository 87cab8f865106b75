# Managed Redis: event fan-out between API replicas. TLS on, private network
# endpoint only (a private_network block and no acl block means no public
# endpoint).

resource "random_password" "redis" {
  length           = 32
  min_upper        = 2
  min_lower        = 2
  min_numeric      = 2
  min_special      = 2
  override_special = "-_.~"
}

resource "scaleway_redis_cluster" "main" {
  name         = "${var.name_prefix}-redis"
  version      = var.redis_version
  node_type    = var.redis_node_type
  cluster_size = var.redis_cluster_size
  zone         = var.zone
  tags         = local.tags

  user_name = "agentops"
  password  = random_password.redis.result

  tls_enabled = true

  private_network {
    id = scaleway_vpc_private_network.main.id
  }
}
