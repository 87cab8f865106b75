terraform {
  # Preconditions and startswith() need 1.3+; checked here with 1.11.
  required_version = ">= 1.5.0"

  required_providers {
    scaleway = {
      source = "scaleway/scaleway"
      # 2.61 is the first release that upgrades a Database Instance engine in
      # place instead of recreating it empty; every attribute used here exists
      # from 2.61 up to the latest 2.x. Commit .terraform.lock.hcl after the
      # first `terraform init` so every operator resolves the same build.
      version = "~> 2.61"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
