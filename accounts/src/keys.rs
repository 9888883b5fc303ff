//! Personal API keys: `hk_` and 64 random hex digits, shown once and kept
//! as a BLAKE3 hash (the secret is random, so a fast hash cannot be
//! guessed back), each with scopes, an optional expiry and a last use.

use serde::Serialize;
use sqlx::any::AnyRow;

use crate::rows::get;
use crate::{AccountError, Accounts};

/// How a key starts: what tells it apart from an access token.
pub const KEY_PREFIX: &str = "hk_";

/// A stored key, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl KeyRecord {
    /// Whether the key may be used at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub user_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub now: i64,
}

/// A fresh secret key.
pub fn new_secret() -> String {
    format!("{KEY_PREFIX}{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// The stored form of a key.
pub fn key_hash(secret: &str) -> String {
    blake3::Hash::from(blake3::derive_key("hangar api key v1", secret.as_bytes())).to_hex().to_string()
}

const KEY_COLUMNS: &str = "id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at";

fn key_from_row(row: &AnyRow) -> Result<KeyRecord, AccountError> {
    let id: String = get(row, "id")?;
    let scopes: String = get(row, "scopes")?;
    let scopes = serde_json::from_str(&scopes).map_err(|e| AccountError::Corrupt {
        what: "key scopes",
        key: id.clone(),
        reason: e.to_string(),
    })?;
    Ok(KeyRecord {
        id,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        scopes,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        last_used_at: get(row, "last_used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

impl Accounts {
    /// Stores a new key; returns it and its secret, which is never stored.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn create_key(&self, key: &NewKey) -> Result<(KeyRecord, String), AccountError> {
        let secret = new_secret();
        let record = KeyRecord {
            id: format!("key_{}", uuid::Uuid::now_v7().simple()),
            user_id: key.user_id.clone(),
            name: key.name.clone(),
            prefix: secret.chars().take(KEY_PREFIX.len() + 8).collect(),
            scopes: key.scopes.clone(),
            created_at: key.now,
            expires_at: key.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        sqlx::query(&format!(
            "INSERT INTO api_keys ({KEY_COLUMNS}, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8)"
        ))
        .bind(&record.id)
        .bind(&record.user_id)
        .bind(&record.name)
        .bind(&record.prefix)
        .bind(serde_json::to_string(&record.scopes).unwrap_or_else(|_| "[]".to_owned()))
        .bind(record.created_at)
        .bind(record.expires_at)
        .bind(key_hash(&secret))
        .execute(&self.pool)
        .await
        .map_err(AccountError::query("create key"))?;
        Ok((record, secret))
    }

    /// The keys of an account (revoked ones too), newest first.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn keys_of(&self, user_id: &str) -> Result<Vec<KeyRecord>, AccountError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(AccountError::query("list keys"))?;
        rows.iter().map(key_from_row).collect()
    }

    /// One key by id.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn key(&self, id: &str) -> Result<Option<KeyRecord>, AccountError> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(AccountError::query("read key"))?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// The key a secret belongs to, if it is live at `now`; records the use.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn use_key(&self, secret: &str, now: i64) -> Result<Option<KeyRecord>, AccountError> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"))
            .bind(key_hash(secret))
            .fetch_optional(&self.pool)
            .await
            .map_err(AccountError::query("read key"))?;
        let Some(key) = row.as_ref().map(key_from_row).transpose()? else {
            return Ok(None);
        };
        if !key.is_live(now) {
            return Ok(None);
        }
        // A minute's precision is enough, and spares a write per request.
        if key.last_used_at.is_none_or(|at| now - at >= 60_000) {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&key.id)
                .execute(&self.pool)
                .await
                .map_err(AccountError::query("record key use"))?;
        }
        Ok(Some(key))
    }

    /// Revokes a key; false when it is unknown or already revoked.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn revoke_key(&self, id: &str, now: i64) -> Result<bool, AccountError> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(AccountError::query("revoke key"))?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_stored_only_as_hashes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("hk_") && a.len() == 67, "{a}");
        assert_eq!(key_hash(&a), key_hash(&a));
        assert!(!key_hash(&a).contains(&a[3..]));
    }

    #[test]
    fn revoked_and_expired_keys_are_not_live() {
        let key = KeyRecord {
            id: "key_1".into(),
            user_id: "usr_1".into(),
            name: "ci".into(),
            prefix: "hk_12345678".into(),
            scopes: vec![],
            created_at: 0,
            expires_at: Some(100),
            last_used_at: None,
            revoked_at: None,
        };
        assert!(key.is_live(99));
        assert!(!key.is_live(100));
        assert!(!KeyRecord { revoked_at: Some(5), expires_at: None, ..key }.is_live(6));
    }
}
