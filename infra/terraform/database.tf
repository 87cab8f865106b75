# Managed PostgreSQL: private network endpoint only, encrypted at rest,
# automated backups (daily by default, stored in another region by default).

resource "random_password" "db_admin" {
  length           = 32
  min_upper        = 2
  min_lower        = 2
  min_numeric      = 2
  min_special      = 2
  override_special = "-_.~"
}

resource "random_password" "db_app" {
  length           = 32
  min_upper        = 2
  min_lower        = 2
  min_numeric      = 2
  min_special      = 2
  override_special = "-_.~"
}

resource "scaleway_rdb_instance" "main" {
  name          = "${var.name_prefix}-pg"
  node_type     = var.db_node_type
  engine        = var.db_engine
  is_ha_cluster = var.db_is_ha_cluster
  tags          = local.tags

  volume_type       = var.db_volume_type
  volume_size_in_gb = var.db_volume_type == "lssd" ? null : var.db_volume_size_gb

  # Instance administrator, used only by operators (backups, restores).
  user_name = "agentops_admin"
  password  = random_password.db_admin.result

  encryption_at_rest = true

  disable_backup            = false
  backup_schedule_frequency = var.db_backup_frequency_hours
  backup_schedule_retention = var.db_backup_retention_days
  backup_same_region        = var.db_backup_same_region

  # The only endpoint: an IPAM-managed address on the private network. With
  # no load_balancer block, the instance has no public endpoint.
  private_network {
    pn_id       = scaleway_vpc_private_network.main.id
    enable_ipam = true
  }

  lifecycle {
    # Losing the database is never what an apply should do.
    prevent_destroy = true
  }
}

resource "scaleway_rdb_database" "main" {
  instance_id = scaleway_rdb_instance.main.id
  name        = var.db_name
}

resource "scaleway_rdb_user" "app" {
  instance_id = scaleway_rdb_instance.main.id
  name        = var.db_user
  password    = random_password.db_app.result
  is_admin    = false
}

resource "scaleway_rdb_privilege" "app" {
  instance_id   = scaleway_rdb_instance.main.id
  user_name     = scaleway_rdb_user.app.name
  database_name = scaleway_rdb_database.main.name
  permission    = "all"
}
