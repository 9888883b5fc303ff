//! Accounts and their sign-in sessions (refresh tokens, rotated on use).

use serde::Serialize;
use sqlx::any::AnyRow;

use crate::rows::get;
use crate::{AccountError, Accounts};

/// An account.
#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    pub id: String,
    /// Lower-cased.
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub name: Option<String>,
    pub organization: Option<String>,
    pub position: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Access tokens issued before this time (seconds) are refused.
    #[serde(skip)]
    pub sessions_valid_after: i64,
}

/// The editable part of an account.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: Option<String>,
    pub organization: Option<String>,
    pub position: Option<String>,
}

/// A refresh token to store (by hash).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub user_id: String,
    /// The login this token descends from.
    pub family: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was valid and is now used; its successor is stored.
    Rotated { user_id: String },
    /// The token had already been used: someone replayed it, so its whole
    /// family is revoked.
    Replayed,
    /// Unknown, expired or revoked.
    Invalid,
}

const USER_COLUMNS: &str =
    "id, email, password_hash, role, name, organization, position, disabled, created_at, updated_at";
/// What is read back: the columns written, and what the store itself keeps.
const READ_COLUMNS: &str = "id, email, password_hash, role, name, organization, position, disabled, created_at, \
    updated_at, sessions_valid_after";

fn user_from_row(row: &AnyRow) -> Result<UserRecord, AccountError> {
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
        sessions_valid_after: get(row, "sessions_valid_after")?,
    })
}

impl Accounts {
    /// Creates an account; false when the e-mail is taken.
    pub async fn create_user(&self, user: &UserRecord) -> Result<bool, AccountError> {
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
        .map_err(AccountError::query("create user"))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>, AccountError> {
        let row = sqlx::query(&format!("SELECT {READ_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(AccountError::query("read user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, AccountError> {
        let row = sqlx::query(&format!("SELECT {READ_COLUMNS} FROM users WHERE email = $1"))
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(AccountError::query("read user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>, AccountError> {
        let rows = sqlx::query(&format!("SELECT {READ_COLUMNS} FROM users ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(AccountError::query("list users"))?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn count_users(&self) -> Result<u64, AccountError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(AccountError::query("count users"))?;
        Ok(get::<i64>(&row, "n")?.max(0) as u64)
    }

    /// False when the account does not exist.
    pub async fn update_profile(&self, id: &str, profile: &Profile, now: i64) -> Result<bool, AccountError> {
        let done =
            sqlx::query("UPDATE users SET name = $1, organization = $2, position = $3, updated_at = $4 WHERE id = $5")
                .bind(profile.name.clone())
                .bind(profile.organization.clone())
                .bind(profile.position.clone())
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(AccountError::query("update profile"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets the role and whether the account is disabled (which revokes
    /// its sign-ins); false when the account does not exist.
    pub async fn set_role(&self, id: &str, role: &str, disabled: bool, now: i64) -> Result<bool, AccountError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET role = $1, disabled = $2, updated_at = $3 WHERE id = $4")
            .bind(role)
            .bind(i64::from(disabled))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("update role"))?;
        if disabled {
            // A disabled account keeps no way to mint new access tokens.
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(AccountError::query("revoke refresh tokens"))?;
        }
        tx.commit().await.map_err(AccountError::query("commit role"))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn add_refresh_token(&self, token: &NewRefreshToken) -> Result<(), AccountError> {
        insert_token(&self.pool, token).await
    }

    /// Uses `presented` (a hash) once, storing `next` in its family.
    pub async fn rotate_refresh_token(
        &self,
        presented: &str,
        next: &NewRefreshToken,
        now: i64,
    ) -> Result<Rotation, AccountError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT user_id, family, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1{}",
            self.for_update()
        ))
        .bind(presented)
        .fetch_optional(&mut *tx)
        .await
        .map_err(AccountError::query("read refresh token"))?;
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
            tx.commit().await.map_err(AccountError::query("commit revocation"))?;
            return Ok(Rotation::Replayed);
        }
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(presented)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("use refresh token"))?;
        let next = NewRefreshToken { family, user_id: user_id.clone(), ..next.clone() };
        insert_token(&mut *tx, &next).await?;
        tx.commit().await.map_err(AccountError::query("commit rotation"))?;
        Ok(Rotation::Rotated { user_id })
    }

    /// Ends the account's sign-ins: its refresh tokens, and the access
    /// tokens and console sessions issued before `valid_after_s` (seconds;
    /// the caller's own session stays when it passes its own issue time).
    pub async fn revoke_sign_ins(&self, user_id: &str, now: i64, valid_after_s: i64) -> Result<(), AccountError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("revoke sign-ins"))?;
        sqlx::query("UPDATE users SET sessions_valid_after = $1 WHERE id = $2 AND sessions_valid_after < $1")
            .bind(valid_after_s)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("end sessions"))?;
        tx.commit().await.map_err(AccountError::query("commit revocation"))
    }

    /// The account a refresh token (by hash) belongs to.
    pub async fn refresh_token_owner(&self, presented: &str) -> Result<Option<String>, AccountError> {
        let row = sqlx::query("SELECT user_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(presented)
            .fetch_optional(&self.pool)
            .await
            .map_err(AccountError::query("read refresh token"))?;
        row.as_ref().map(|row| get(row, "user_id")).transpose()
    }

    /// Revokes the family of `presented`; false when it is unknown.
    pub async fn revoke_refresh_token(&self, presented: &str, now: i64) -> Result<bool, AccountError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT family FROM refresh_tokens WHERE token_hash = $1")
            .bind(presented)
            .fetch_optional(&mut *tx)
            .await
            .map_err(AccountError::query("read refresh token"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let family: String = get(&row, "family")?;
        revoke_family(&mut tx, &family, now).await?;
        tx.commit().await.map_err(AccountError::query("commit revocation"))?;
        Ok(true)
    }
}

async fn insert_token<'e, E>(executor: E, token: &NewRefreshToken) -> Result<(), AccountError>
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
    .map_err(AccountError::query("store refresh token"))
}

async fn revoke_family(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    family: &str,
    now: i64,
) -> Result<(), AccountError> {
    sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(family)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(AccountError::query("revoke refresh tokens"))
}
