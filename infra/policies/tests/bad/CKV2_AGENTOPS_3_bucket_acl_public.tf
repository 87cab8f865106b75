# Violates CKV2_AGENTOPS_3: public canned ACL, and a grant to AllUsers.
resource "scaleway_object_bucket" "acl_public" {
  name = "bad-acl-public"
  versioning {
    enabled = true
  }
}

resource "scaleway_object_bucket_acl" "acl_public" {
  bucket = scaleway_object_bucket.acl_public.id
  acl    = "public-read"
}

resource "scaleway_object_bucket" "acl_grant_all" {
  name = "bad-acl-grant-all"
  versioning {
    enabled = true
  }
}

resource "scaleway_object_bucket_acl" "acl_grant_all" {
  bucket = scaleway_object_bucket.acl_grant_all.id
  access_control_policy {
    grant {
      grantee {
        type = "Group"
        uri  = "http://acs.amazonaws.com/groups/global/AllUsers"
      }
      permission = "READ"
    }
    owner {
      id = "11111111-1111-1111-1111-111111111111"
    }
  }
}
