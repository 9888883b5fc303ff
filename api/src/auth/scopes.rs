//! What an API key may reach. Each scope names a part of the API and the
//! role permission it needs: a key is created only with scopes its owner's
//! role grants, and every request through it still passes the owner's
//! *current* role, so a key never grants more than its owner holds.

use axum::http::Method;

use super::roles::{Permission, Role};

/// A key's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    AccountRead,
    RunsRead,
    RunsWrite,
    DataRead,
    DataWrite,
    ModelsRead,
    ModelsWrite,
    ModelsInfer,
    SchedulesRead,
    SchedulesWrite,
    UsersManage,
    AuditRead,
    SystemAdmin,
}

pub const ALL: [Scope; 13] = [
    Scope::AccountRead,
    Scope::RunsRead,
    Scope::RunsWrite,
    Scope::DataRead,
    Scope::DataWrite,
    Scope::ModelsRead,
    Scope::ModelsWrite,
    Scope::ModelsInfer,
    Scope::SchedulesRead,
    Scope::SchedulesWrite,
    Scope::UsersManage,
    Scope::AuditRead,
    Scope::SystemAdmin,
];

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AccountRead => "account:read",
            Scope::RunsRead => "runs:read",
            Scope::RunsWrite => "runs:write",
            Scope::DataRead => "data:read",
            Scope::DataWrite => "data:write",
            Scope::ModelsRead => "models:read",
            Scope::ModelsWrite => "models:write",
            Scope::ModelsInfer => "models:infer",
            Scope::SchedulesRead => "schedules:read",
            Scope::SchedulesWrite => "schedules:write",
            Scope::UsersManage => "users:manage",
            Scope::AuditRead => "audit:read",
            Scope::SystemAdmin => "system:admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        ALL.into_iter().find(|scope| scope.as_str() == text.trim())
    }

    /// The role permission the scope needs; `None`: any account may read it.
    pub fn permission(self) -> Option<Permission> {
        match self {
            Scope::AccountRead
            | Scope::RunsRead
            | Scope::DataRead
            | Scope::ModelsRead
            | Scope::ModelsInfer
            | Scope::SchedulesRead => None,
            Scope::RunsWrite | Scope::SchedulesWrite => Some(Permission::DataProcess),
            Scope::DataWrite => Some(Permission::DataUpload),
            Scope::ModelsWrite => Some(Permission::ModelDeploy),
            Scope::UsersManage => Some(Permission::UserManage),
            Scope::AuditRead | Scope::SystemAdmin => Some(Permission::SystemAdmin),
        }
    }

    /// Whether a holder of `role` may put this scope on a key.
    pub fn granted_to(self, role: Role) -> bool {
        self.permission().is_none_or(|permission| role.has(permission))
    }
}

/// The scope a request needs, from its method and path; `None` for what no
/// key may do (keys, sign-in, two-factor settings: those need the person).
pub fn required(method: &Method, path: &str) -> Option<Scope> {
    let read = method == Method::GET || method == Method::HEAD;
    let pick = |reading: Scope, writing: Scope| Some(if read { reading } else { writing });
    if let Some(openai) = path.strip_prefix("/v1/") {
        return if openai.starts_with("models") { read.then_some(Scope::ModelsRead) } else { Some(Scope::ModelsInfer) };
    }
    let rest = path.strip_prefix("/api/v1/")?;
    let section = rest.split('/').next().unwrap_or_default();
    match section {
        "runs" | "pipelines" => pick(Scope::RunsRead, Scope::RunsWrite),
        "uploads" | "roots" => pick(Scope::DataRead, Scope::DataWrite),
        "artifacts" => read.then_some(Scope::DataRead),
        "models" if rest.ends_with("/generate") => Some(Scope::ModelsInfer),
        "models" => pick(Scope::ModelsRead, Scope::ModelsWrite),
        "schedules" => pick(Scope::SchedulesRead, Scope::SchedulesWrite),
        "users" if rest == "users/me" => read.then_some(Scope::AccountRead),
        // Resetting a second factor needs the administrator in person.
        "users" if rest.ends_with("/two-factor") => None,
        "users" => Some(Scope::UsersManage),
        "audit" => read.then_some(Scope::AuditRead),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_reads_back_from_its_name() {
        for scope in ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("runs:delete"), None);
    }

    #[test]
    fn requests_need_the_scope_of_their_part_of_the_api() {
        assert_eq!(required(&Method::GET, "/api/v1/runs/r1/events"), Some(Scope::RunsRead));
        assert_eq!(required(&Method::POST, "/api/v1/pipelines/p/runs"), Some(Scope::RunsWrite));
        assert_eq!(required(&Method::POST, "/v1/chat/completions"), Some(Scope::ModelsInfer));
        assert_eq!(required(&Method::GET, "/v1/models"), Some(Scope::ModelsRead));
        assert_eq!(required(&Method::PATCH, "/api/v1/users/me"), None);
        assert_eq!(required(&Method::POST, "/api/v1/keys"), None);
        assert_eq!(required(&Method::GET, "/api/v1/audit"), Some(Scope::AuditRead));
        assert_eq!(required(&Method::POST, "/api/v1/models/airworthy/generate"), Some(Scope::ModelsInfer));
        assert_eq!(required(&Method::GET, "/api/v1/artifacts/upl_1"), Some(Scope::DataRead));
        assert_eq!(required(&Method::DELETE, "/api/v1/users/usr_1/two-factor"), None);
        assert_eq!(required(&Method::PATCH, "/api/v1/users/usr_1"), Some(Scope::UsersManage));
        assert_eq!(required(&Method::GET, "/runs"), None, "console pages take no keys");
    }

    #[test]
    fn ordinary_roles_cannot_grant_administration() {
        assert!(!Scope::UsersManage.granted_to(Role::User));
        assert!(!Scope::AuditRead.granted_to(Role::User));
        assert!(Scope::RunsWrite.granted_to(Role::User));
        assert!(ALL.iter().all(|s| s.granted_to(Role::Admin)));
    }
}
