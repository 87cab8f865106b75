# Violates CKV2_AGENTOPS_8: TLS off explicitly, and TLS left at its default (off).
resource "scaleway_redis_cluster" "tls_off" {
  name        = "bad-redis-tls-off"
  version     = "7.2.11"
  node_type   = "RED1-MICRO"
  user_name   = "agentops"
  password    = "NotARealPassword-123"
  tls_enabled = false
  private_network {
    id = "fr-par/11111111-1111-1111-1111-111111111111"
  }
}

resource "scaleway_redis_cluster" "tls_default" {
  name      = "bad-redis-tls-default"
  version   = "7.2.11"
  node_type = "RED1-MICRO"
  user_name = "agentops"
  password  = "NotARealPassword-123"
  private_network {
    id = "fr-par/11111111-1111-1111-1111-111111111111"
  }
}
