//! Roles and what they permit.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Permission {
    /// Create, change and disable accounts; see everyone's work.
    #[serde(rename = "user:manage")]
    UserManage,
    /// Upload documents.
    #[serde(rename = "data:upload")]
    DataUpload,
    /// Store pipelines and run them.
    #[serde(rename = "data:process")]
    DataProcess,
    /// Run pipelines that produce models.
    #[serde(rename = "model:train")]
    ModelTrain,
    /// Register and serve models.
    #[serde(rename = "model:deploy")]
    ModelDeploy,
    /// Run privileged operators (`shell`), manage schedules of others, operate the server.
    #[serde(rename = "system:admin")]
    SystemAdmin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::UserManage => "user:manage",
            Permission::DataUpload => "data:upload",
            Permission::DataProcess => "data:process",
            Permission::ModelTrain => "model:train",
            Permission::ModelDeploy => "model:deploy",
            Permission::SystemAdmin => "system:admin",
        }
    }
}

/// An account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

const ADMIN: &[Permission] = &[
    Permission::UserManage,
    Permission::DataUpload,
    Permission::DataProcess,
    Permission::ModelTrain,
    Permission::ModelDeploy,
    Permission::SystemAdmin,
];
const USER: &[Permission] =
    &[Permission::DataUpload, Permission::DataProcess, Permission::ModelTrain, Permission::ModelDeploy];

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Role::Admin => ADMIN,
            Role::User => USER,
        }
    }

    pub fn has(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_cannot_manage_accounts_or_the_system() {
        assert!(!Role::User.has(Permission::UserManage));
        assert!(!Role::User.has(Permission::SystemAdmin));
        assert!(Role::User.has(Permission::DataUpload));
        assert!(Role::Admin.permissions().len() == 6);
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}
