# Violates CKV2_AGENTOPS_5: a public load-balancer endpoint, and no private
# network at all.
resource "scaleway_rdb_instance" "public_lb" {
  name               = "bad-public-lb"
  node_type          = "DB-DEV-S"
  engine             = "PostgreSQL-16"
  encryption_at_rest = true
  private_network {
    pn_id       = "fr-par/11111111-1111-1111-1111-111111111111"
    enable_ipam = true
  }
  load_balancer {}
}

resource "scaleway_rdb_instance" "no_private_network" {
  name               = "bad-no-pn"
  node_type          = "DB-DEV-S"
  engine             = "PostgreSQL-16"
  encryption_at_rest = true
}
