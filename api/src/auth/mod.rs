//! Accounts, tokens, roles.

pub mod extract;
pub mod password;
pub mod roles;
pub mod scopes;
pub mod session;
pub mod throttle;
pub mod tokens;

pub use extract::CurrentUser;
pub use roles::{Permission, Role};
