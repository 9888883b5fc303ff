//! The engine asks who owns work; the account store answers.

use async_trait::async_trait;
use hangar_accounts::Accounts;
use hangar_engine::{Owners, Standing};

/// [`Owners`] over the account store.
pub struct AccountOwners(pub Accounts);

#[async_trait]
impl Owners for AccountOwners {
    async fn standing(&self, owner: &str) -> Result<Option<Standing>, String> {
        let user = self.0.user(owner).await.map_err(|e| e.to_string())?;
        Ok(user.map(|u| Standing { email: u.email, role: u.role, disabled: u.disabled }))
    }
}
