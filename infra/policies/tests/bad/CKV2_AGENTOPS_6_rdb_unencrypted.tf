# Violates CKV2_AGENTOPS_6: no encryption at rest; backups disabled.
resource "scaleway_rdb_instance" "unencrypted" {
  name      = "bad-unencrypted"
  node_type = "DB-DEV-S"
  engine    = "PostgreSQL-16"
  private_network {
    pn_id       = "fr-par/11111111-1111-1111-1111-111111111111"
    enable_ipam = true
  }
}

resource "scaleway_rdb_instance" "no_backup" {
  name               = "bad-no-backup"
  node_type          = "DB-DEV-S"
  engine             = "PostgreSQL-16"
  encryption_at_rest = true
  disable_backup     = true
  private_network {
    pn_id       = "fr-par/11111111-1111-1111-1111-111111111111"
    enable_ipam = true
  }
}
