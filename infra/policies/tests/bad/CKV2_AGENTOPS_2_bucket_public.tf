# Violates CKV2_AGENTOPS_2: a public canned ACL on the bucket itself, and a
# bucket without any scaleway_object_bucket_acl resource.
resource "scaleway_object_bucket" "public_canned" {
  name = "bad-public-canned"
  acl  = "public-read"
  versioning {
    enabled = true
  }
}

resource "scaleway_object_bucket_acl" "public_canned" {
  bucket = scaleway_object_bucket.public_canned.id
  acl    = "private"
}

resource "scaleway_object_bucket" "no_acl_resource" {
  name = "bad-no-acl-resource"
  versioning {
    enabled = true
  }
}
