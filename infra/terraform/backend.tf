# Remote state on Scaleway Object Storage (S3-compatible).
#
# State holds every generated secret (database and Redis passwords, the admin
# key, S3 credentials), so keep it in a private, versioned bucket that only
# operators can read. Create that bucket once by hand (it must not be managed
# by this configuration), uncomment the block below, then run:
#
#   export AWS_ACCESS_KEY_ID=$SCW_ACCESS_KEY
#   export AWS_SECRET_ACCESS_KEY=$SCW_SECRET_KEY
#   terraform init -migrate-state
#
# The S3 backend needs the skip_* flags because Scaleway is not AWS. Object
# Storage has no DynamoDB-style locking; Terraform 1.10+ can lock with a
# lock object in the bucket itself (use_lockfile = true).
#
# terraform {
#   backend "s3" {
#     bucket                      = "my-agentops-tfstate"
#     key                         = "agentops/production.tfstate"
#     region                      = "fr-par"
#     endpoints = {
#       s3 = "https://s3.fr-par.scw.cloud"
#     }
#     use_lockfile                = true
#     skip_credentials_validation = true
#     skip_region_validation      = true
#     skip_requesting_account_id  = true
#     skip_metadata_api_check     = true
#     skip_s3_checksum            = true
#   }
# }
