# Violates CKV2_AGENTOPS_7: public endpoint with an ACL, no private network.
resource "scaleway_redis_cluster" "public_acl" {
  name        = "bad-redis-public"
  version     = "7.2.11"
  node_type   = "RED1-MICRO"
  user_name   = "agentops"
  password    = "NotARealPassword-123"
  tls_enabled = true
  acl {
    ip          = "0.0.0.0/0"
    description = "everyone"
  }
}
