# Optional public Load Balancer (enable_load_balancer = true).
#
# Serverless containers are load-balanced by Scaleway and cannot be backends
# of a Load Balancer (they have no stable IP and no ingress from the private
# network). This LB is for API replicas that do have private IPs: Instances
# or Kapsule nodes on the private network running the same image with
# `agentops api` and the same environment (see docs/deploy.md, scaling out).

resource "scaleway_lb_ip" "main" {
  count = var.enable_load_balancer ? 1 : 0
  zone  = var.zone
  tags  = local.tags
}

resource "scaleway_lb" "main" {
  count  = var.enable_load_balancer ? 1 : 0
  name   = "${var.name_prefix}-lb"
  type   = var.lb_type
  zone   = var.zone
  ip_ids = [scaleway_lb_ip.main[0].id]
  tags   = local.tags

  private_network {
    private_network_id = scaleway_vpc_private_network.main.id
  }

  lifecycle {
    precondition {
      condition     = length(var.lb_backend_server_ips) > 0
      error_message = "enable_load_balancer = true needs lb_backend_server_ips (private IPs of API replicas)."
    }
  }
}

resource "scaleway_lb_backend" "api" {
  count            = var.enable_load_balancer ? 1 : 0
  lb_id            = scaleway_lb.main[0].id
  name             = "${var.name_prefix}-api"
  forward_protocol = "http"
  forward_port     = 8080
  server_ips       = var.lb_backend_server_ips
  # WebSocket streams stay open; give them an hour of inactivity.
  timeout_tunnel = "3600s"

  health_check_http {
    uri = "/ready"
  }
  health_check_delay   = "10s"
  health_check_timeout = "5s"
}

resource "scaleway_lb_certificate" "api" {
  count = var.enable_load_balancer && var.lb_domain != "" ? 1 : 0
  lb_id = scaleway_lb.main[0].id
  name  = "${var.name_prefix}-api"

  letsencrypt {
    common_name = var.lb_domain
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "scaleway_lb_frontend" "api" {
  count           = var.enable_load_balancer ? 1 : 0
  lb_id           = scaleway_lb.main[0].id
  backend_id      = scaleway_lb_backend.api[0].id
  name            = "${var.name_prefix}-api"
  inbound_port    = var.lb_domain != "" ? 443 : 80
  certificate_ids = var.lb_domain != "" ? [scaleway_lb_certificate.api[0].id] : []
}
