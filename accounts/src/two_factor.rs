//! Two-factor sign-in: an account's TOTP secret (unconfirmed until a first
//! code proves the app has it), the newest time step accepted (so no code
//! works twice), ten single-use recovery codes kept as hashes, and the roles
//! that must use it.

use serde::Serialize;

use crate::rows::get;
use crate::{AccountError, Accounts, totp};

/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;

/// What an account shows of its second factor.
#[derive(Debug, Clone, Serialize)]
pub struct SecondFactor {
    /// False while enrolling: sign-in does not ask for codes yet.
    pub enabled: bool,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
}

/// A started enrolment: what the app needs, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    /// Base32, for typing into the app by hand.
    pub secret: String,
    /// `otpauth://totp/...`
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

fn recovery_hash(user_id: &str, code: &str) -> String {
    let normal: String = code.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
    blake3::keyed_hash(&blake3::derive_key("hangar recovery code v1", user_id.as_bytes()), normal.as_bytes())
        .to_hex()
        .to_string()
}

/// Ten groups of random letters and digits, `xxxxx-xxxxx`.
fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let hex = uuid::Uuid::new_v4().simple().to_string();
            format!("{}-{}", &hex[..5], &hex[5..10])
        })
        .collect()
}

impl Accounts {
    /// Starts (or restarts) an enrolment with a new secret; `None` when the
    /// account already has two-factor sign-in on (turn it off first).
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn begin_enrolment(
        &self,
        user_id: &str,
        email: &str,
        now: i64,
    ) -> Result<Option<Enrolment>, AccountError> {
        let secret = totp::new_secret();
        let Some(otpauth_uri) = totp::otpauth_uri(&secret, email) else {
            return Ok(None);
        };
        let mut tx = self.begin_write().await?;
        let confirmed = sqlx::query("SELECT confirmed_at FROM two_factor WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(AccountError::query("read two-factor"))?;
        if let Some(row) = confirmed
            && get::<Option<i64>>(&row, "confirmed_at")?.is_some()
        {
            return Ok(None);
        }
        sqlx::query("DELETE FROM two_factor WHERE user_id = $1 AND confirmed_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("restart enrolment"))?;
        sqlx::query("INSERT INTO two_factor (user_id, secret, confirmed_at, last_step, created_at) VALUES ($1, $2, NULL, 0, $3)")
            .bind(user_id)
            .bind(&secret)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("start enrolment"))?;
        tx.commit().await.map_err(AccountError::query("commit enrolment"))?;
        let qr_svg = totp::qr_svg(&otpauth_uri).unwrap_or_default();
        Ok(Some(Enrolment { secret, otpauth_uri, qr_svg }))
    }

    /// Finishes an enrolment with a first code from the app: turns
    /// two-factor sign-in on and returns the recovery codes (shown once).
    /// `None` when there is no enrolment under way or the code is wrong.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn confirm_enrolment(
        &self,
        user_id: &str,
        code: &str,
        now: i64,
    ) -> Result<Option<Vec<String>>, AccountError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT secret FROM two_factor WHERE user_id = $1 AND confirmed_at IS NULL{}",
            self.for_update()
        ))
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(AccountError::query("read enrolment"))?;
        let Some(row) = row else { return Ok(None) };
        let secret: String = get(&row, "secret")?;
        let Some(step) = totp::matching_step(&secret, code, seconds(now)) else {
            return Ok(None);
        };
        sqlx::query("UPDATE two_factor SET confirmed_at = $1, last_step = $2 WHERE user_id = $3")
            .bind(now)
            .bind(i64::try_from(step).unwrap_or(i64::MAX))
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("confirm enrolment"))?;
        let codes = new_recovery_codes();
        replace_recovery_codes(&mut tx, user_id, &codes).await?;
        tx.commit().await.map_err(AccountError::query("commit enrolment"))?;
        Ok(Some(codes))
    }

    /// The account's second factor, if it has one (enabled or enrolling).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn second_factor(&self, user_id: &str) -> Result<Option<SecondFactor>, AccountError> {
        let row = sqlx::query(
            "SELECT created_at, confirmed_at, \
             (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = t.user_id AND r.used_at IS NULL) AS left_codes \
             FROM two_factor t WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(AccountError::query("read two-factor"))?;
        let Some(row) = row else { return Ok(None) };
        let confirmed_at: Option<i64> = get(&row, "confirmed_at")?;
        Ok(Some(SecondFactor {
            enabled: confirmed_at.is_some(),
            created_at: get(&row, "created_at")?,
            confirmed_at,
            recovery_codes_left: u32::try_from(get::<i64>(&row, "left_codes")?.max(0)).unwrap_or(0),
        }))
    }

    /// Whether two-factor sign-in is on for the account.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn has_two_factor(&self, user_id: &str) -> Result<bool, AccountError> {
        Ok(self.second_factor(user_id).await?.is_some_and(|f| f.enabled))
    }

    /// The accounts that have two-factor sign-in on.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn accounts_with_two_factor(&self) -> Result<std::collections::HashSet<String>, AccountError> {
        let rows = sqlx::query("SELECT user_id FROM two_factor WHERE confirmed_at IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(AccountError::query("read two-factor"))?;
        rows.iter().map(|row| get(row, "user_id")).collect()
    }

    /// Checks a second factor at sign-in: a 6-digit code from the app, used
    /// at most once and only for a step newer than the last one accepted, or
    /// an unused recovery code, which is then spent.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn verify_second_factor(&self, user_id: &str, code: &str, now: i64) -> Result<bool, AccountError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT secret, last_step FROM two_factor WHERE user_id = $1 AND confirmed_at IS NOT NULL{}",
            self.for_update()
        ))
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(AccountError::query("read two-factor"))?;
        let Some(row) = row else { return Ok(false) };
        let secret: String = get(&row, "secret")?;
        let last_step: i64 = get(&row, "last_step")?;
        let trimmed = code.trim();
        let accepted = if trimmed.len() == 6 && trimmed.chars().all(|c| c.is_ascii_digit()) {
            match totp::matching_step(&secret, trimmed, seconds(now)).map(|s| i64::try_from(s).unwrap_or(i64::MAX)) {
                Some(step) if step > last_step => {
                    sqlx::query("UPDATE two_factor SET last_step = $1 WHERE user_id = $2")
                        .bind(step)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(AccountError::query("record the code's step"))?;
                    true
                }
                _ => false,
            }
        } else {
            sqlx::query(
                "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .bind(recovery_hash(user_id, trimmed))
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("spend a recovery code"))?
            .rows_affected()
                == 1
        };
        tx.commit().await.map_err(AccountError::query("commit two-factor"))?;
        Ok(accepted)
    }

    /// Turns two-factor sign-in off (or abandons an enrolment); false when
    /// there was none.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn remove_two_factor(&self, user_id: &str) -> Result<bool, AccountError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("delete recovery codes"))?;
        let done = sqlx::query("DELETE FROM two_factor WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("delete two-factor"))?;
        tx.commit().await.map_err(AccountError::query("commit two-factor"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The roles whose accounts must sign in with a second factor.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn two_factor_roles(&self) -> Result<Vec<String>, AccountError> {
        let rows = sqlx::query("SELECT role FROM two_factor_roles ORDER BY role")
            .fetch_all(&self.pool)
            .await
            .map_err(AccountError::query("read two-factor roles"))?;
        rows.iter().map(|row| get(row, "role")).collect()
    }

    /// Sets the roles that must use two-factor sign-in (replacing the list).
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn set_two_factor_roles(&self, roles: &[String], now: i64) -> Result<(), AccountError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM two_factor_roles")
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("clear two-factor roles"))?;
        for role in roles {
            sqlx::query("INSERT INTO two_factor_roles (role, required_at) VALUES ($1, $2)")
                .bind(role)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(AccountError::query("require two-factor"))?;
        }
        tx.commit().await.map_err(AccountError::query("commit two-factor roles"))
    }
}

async fn replace_recovery_codes(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    codes: &[String],
) -> Result<(), AccountError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map_err(AccountError::query("delete recovery codes"))?;
    for code in codes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)")
            .bind(user_id)
            .bind(recovery_hash(user_id, code))
            .execute(&mut **tx)
            .await
            .map_err(AccountError::query("store recovery codes"))?;
    }
    Ok(())
}

fn seconds(now_ms: i64) -> u64 {
    u64::try_from(now_ms.max(0) / 1000).unwrap_or(0)
}
