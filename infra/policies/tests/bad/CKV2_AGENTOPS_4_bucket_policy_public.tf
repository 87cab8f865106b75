# Violates CKV2_AGENTOPS_4: a bucket policy that lets anyone read.
resource "scaleway_object_bucket" "policy_public" {
  name = "bad-policy-public"
  versioning {
    enabled = true
  }
}

resource "scaleway_object_bucket_acl" "policy_public" {
  bucket = scaleway_object_bucket.policy_public.id
  acl    = "private"
}

resource "scaleway_object_bucket_policy" "policy_public" {
  bucket = scaleway_object_bucket.policy_public.id
  policy = jsonencode({
    Version = "2023-04-17"
    Statement = [{
      Sid       = "PublicRead"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["s3:GetObject"]
      Resource  = ["bad-policy-public/*"]
    }]
  })
}
