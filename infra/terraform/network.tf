# VPC and the private network. PostgreSQL and Redis have endpoints on this
# network only (no public endpoint); the serverless containers reach them
# through it (egress from containers to the private network).

resource "scaleway_vpc" "main" {
  name = "${var.name_prefix}-vpc"
  tags = local.tags

  lifecycle {
    precondition {
      condition     = startswith(var.zone, "${var.region}-")
      error_message = "zone (${var.zone}) must be in region ${var.region}."
    }
  }
}

resource "scaleway_vpc_private_network" "main" {
  name   = "${var.name_prefix}-pn"
  vpc_id = scaleway_vpc.main.id
  tags   = local.tags

  ipv4_subnet {
    subnet = var.private_network_cidr
  }
}

# Optional SSH bastion: the only way in from outside to the private-only
# database, used for migrations (infra/deploy.sh) and backups/restores
# (infra/scripts/). Authentication is by the SSH keys of the Project (IAM).
resource "scaleway_vpc_public_gateway_ip" "bastion" {
  count = var.enable_bastion ? 1 : 0
  tags  = local.tags
}

resource "scaleway_vpc_public_gateway" "bastion" {
  count             = var.enable_bastion ? 1 : 0
  name              = "${var.name_prefix}-gw"
  type              = "VPC-GW-S"
  ip_id             = scaleway_vpc_public_gateway_ip.bastion[0].id
  bastion_enabled   = true
  bastion_port      = var.bastion_port
  allowed_ip_ranges = length(var.bastion_allowed_cidrs) > 0 ? var.bastion_allowed_cidrs : null
  tags              = local.tags
}

resource "scaleway_vpc_gateway_network" "bastion" {
  count              = var.enable_bastion ? 1 : 0
  gateway_id         = scaleway_vpc_public_gateway.bastion[0].id
  private_network_id = scaleway_vpc_private_network.main.id
  # The gateway is only a way in; containers keep their own Internet egress.
  enable_masquerade = false

  ipam_config {
    push_default_route = false
  }
}
