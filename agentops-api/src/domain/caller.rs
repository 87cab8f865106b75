//! Who is asking: the authenticated caller every use case that depends on it is given.

use agentops_sdk::types::Role;
use uuid::Uuid;

use crate::error::ApiError;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The API key's id.
    pub key_id: Uuid,
    /// The key's role.
    pub role: Role,
}

impl Caller {
    /// Refuses with 403 unless the caller's role includes `needed`
    /// (admin includes agent, which includes viewer).
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if rank(self.role) >= rank(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this operation needs the {needed} role; the key has the {} role",
                self.role
            )))
        }
    }
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 0,
        Role::Agent => 1,
        Role::Admin => 2,
    }
}
