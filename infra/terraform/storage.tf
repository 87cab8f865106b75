# Artifact storage: a private, versioned bucket, plus (unless credentials
# are given) an IAM application whose key can only use Object Storage in
# this Project.

resource "random_id" "suffix" {
  byte_length = 3
}

resource "scaleway_object_bucket" "artifacts" {
  name          = local.bucket_name
  region        = var.region
  force_destroy = var.bucket_force_destroy
  tags          = { for t in local.tags : t => t }

  versioning {
    enabled = true
  }

  lifecycle {
    precondition {
      condition     = !(var.region == "pl-waw" && var.bucket_archive_after_days > 0)
      error_message = "GLACIER is not available in pl-waw: set bucket_archive_after_days = 0."
    }
  }

  # Unfinished multipart uploads are billed until aborted.
  lifecycle_rule {
    id                                     = "abort-incomplete-uploads"
    enabled                                = true
    abort_incomplete_multipart_upload_days = var.bucket_abort_incomplete_upload_days
  }

  # Old objects (and the versions versioning keeps of them) move to the
  # cheaper GLACIER class. The provider exposes no noncurrent-version
  # expiration action; see docs/deploy.md for how to prune old versions.
  dynamic "lifecycle_rule" {
    for_each = var.bucket_archive_after_days > 0 ? [var.bucket_archive_after_days] : []
    content {
      id      = "archive-old-objects"
      enabled = true

      transition {
        days          = lifecycle_rule.value
        storage_class = "GLACIER"
      }
    }
  }
}

# Canned ACL managed explicitly (the bucket's own `acl` argument is
# deprecated): only the owning Project can read or write.
resource "scaleway_object_bucket_acl" "artifacts" {
  bucket = scaleway_object_bucket.artifacts.id
  acl    = "private"
}

resource "scaleway_iam_application" "s3" {
  count       = local.create_s3_credentials ? 1 : 0
  name        = "${var.name_prefix}-artifacts"
  description = "AgentOps API access to its artifact bucket"
}

resource "scaleway_iam_policy" "s3" {
  count          = local.create_s3_credentials ? 1 : 0
  name           = "${var.name_prefix}-artifacts"
  description    = "Object Storage only, in the AgentOps Project"
  application_id = scaleway_iam_application.s3[0].id

  rule {
    project_ids          = [scaleway_object_bucket.artifacts.project_id]
    permission_set_names = ["ObjectStorageFullAccess"]
  }
}

resource "scaleway_iam_api_key" "s3" {
  count              = local.create_s3_credentials ? 1 : 0
  application_id     = scaleway_iam_application.s3[0].id
  description        = "AgentOps API artifact storage"
  default_project_id = scaleway_object_bucket.artifacts.project_id
}
