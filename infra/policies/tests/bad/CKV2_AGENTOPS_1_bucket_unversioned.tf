# Violates CKV2_AGENTOPS_1: versioning off (and absent on the second bucket).
resource "scaleway_object_bucket" "unversioned" {
  name = "bad-unversioned"
  versioning {
    enabled = false
  }
}

resource "scaleway_object_bucket_acl" "unversioned" {
  bucket = scaleway_object_bucket.unversioned.id
  acl    = "private"
}

resource "scaleway_object_bucket" "no_versioning_block" {
  name = "bad-no-versioning-block"
}

resource "scaleway_object_bucket_acl" "no_versioning_block" {
  bucket = scaleway_object_bucket.no_versioning_block.id
  acl    = "private"
}
