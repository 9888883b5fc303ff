//! Accounts and refresh tokens.

use async_trait::async_trait;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::rows::get;
use crate::store::StoreError;
use crate::store::catalog::{NewRefreshToken, Profile, Rotation, UserRecord, UserStore};

const USER_COLUMNS: &str =
    "id, email, password_hash, role, name, organization, position, disabled, created_at, updated_at";

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: get(row, "id")?,
        email: get(row, "email")?,
        password_hash: get(row, "password_hash")?,
        role: get(row, "role")?,
        name: get(row, "name")?,
        organization: get(row, "organization")?,
        position: get(row, "position")?,
        disabled: get::<i64>(row, "disabled")? != 0,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (email) DO NOTHING"
        ))
        .bind(&user.id)
        .bind(user.email.to_lowercase())
        .bind(&user.password_hash)
        .bind(&user.role)
        .bind(user.name.clone())
        .bind(user.organization.clone())
        .bind(user.position.clone())
        .bind(i64::from(user.disabled))
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("create user"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("list users"))?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("count users"))?;
        Ok(get::<i64>(&row, "n")?.max(0) as u64)
    }

    async fn update_profile(&self, id: &str, profile: &Profile, now: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET name = $1, organization = $2, position = $3, updated_at = $4 WHERE id = $5")
                .bind(profile.name.clone())
                .bind(profile.organization.clone())
                .bind(profile.position.clone())
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::query("update profile"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_role(&self, id: &str, role: &str, disabled: bool, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET role = $1, disabled = $2, updated_at = $3 WHERE id = $4")
            .bind(role)
            .bind(i64::from(disabled))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("update role"))?;
        if disabled {
            // A disabled account keeps no way to mint new access tokens.
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("revoke refresh tokens"))?;
        }
        tx.commit().await.map_err(StoreError::query("commit role"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError> {
        insert_token(&self.pool, token).await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &str,
        next: &NewRefreshToken,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT user_id, family, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1{}",
            self.backend.for_update()
        ))
        .bind(presented)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query("read refresh token"))?;
        let Some(row) = row else {
            return Ok(Rotation::Invalid);
        };
        let family: String = get(&row, "family")?;
        let user_id: String = get(&row, "user_id")?;
        if get::<Option<i64>>(&row, "revoked_at")?.is_some() || get::<i64>(&row, "expires_at")? <= now {
            return Ok(Rotation::Invalid);
        }
        if get::<Option<i64>>(&row, "used_at")?.is_some() {
            revoke_family(&mut tx, &family, now).await?;
            tx.commit().await.map_err(StoreError::query("commit revocation"))?;
            return Ok(Rotation::Replayed);
        }
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(presented)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("use refresh token"))?;
        let next = NewRefreshToken { family, user_id: user_id.clone(), ..next.clone() };
        insert_token(&mut *tx, &next).await?;
        tx.commit().await.map_err(StoreError::query("commit rotation"))?;
        Ok(Rotation::Rotated { user_id })
    }

    async fn revoke_refresh_token(&self, presented: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT family FROM refresh_tokens WHERE token_hash = $1")
            .bind(presented)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("read refresh token"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let family: String = get(&row, "family")?;
        revoke_family(&mut tx, &family, now).await?;
        tx.commit().await.map_err(StoreError::query("commit revocation"))?;
        Ok(true)
    }
}

async fn insert_token<'e, E>(executor: E, token: &NewRefreshToken) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, family, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&token.token_hash)
    .bind(&token.user_id)
    .bind(&token.family)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(executor)
    .await
    .map(|_| ())
    .map_err(StoreError::query("store refresh token"))
}

async fn revoke_family(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    family: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(family)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(StoreError::query("revoke refresh tokens"))
}
