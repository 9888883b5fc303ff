//! Password hashing (argon2id) and the password policy.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 1024;

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long: use at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password must not be the e-mail address or its name part; choose another")]
    LikeEmail,
    #[error("could not hash the password: {0}")]
    Hash(String),
}

/// Checks `password` against the policy for the account `email`.
///
/// # Errors
/// The rule it breaks.
pub fn check_policy(email: &str, password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    let lowered = password.trim().to_lowercase();
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lowered == email || (!local.is_empty() && lowered == local) {
        return Err(PasswordError::LikeEmail);
    }
    Ok(())
}

/// An argon2id hash in PHC form, with a random salt.
///
/// # Errors
/// When hashing fails (it does not with the default parameters).
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored `hash`.
pub fn verify(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_and_email_like_passwords() {
        assert_eq!(check_policy("a@b.c", "short"), Err(PasswordError::TooShort));
        assert_eq!(check_policy("inspector.long@caac.example", "Inspector.Long"), Err(PasswordError::LikeEmail));
        assert_eq!(check_policy("a@b.c", "elevenchars"), Err(PasswordError::TooShort));
        assert_eq!(
            check_policy("inspector.long@caac.example", "inspector.long@caac.example"),
            Err(PasswordError::LikeEmail)
        );
        assert_eq!(check_policy("averylongname@x.io", "AVERYLONGNAME"), Err(PasswordError::LikeEmail));
        assert_eq!(check_policy("a@b.c", "correct horse battery"), Ok(()));
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let stored = hash("correct horse battery").expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse battery!", &stored));
        assert!(!verify("anything", "not a hash"));
    }
}
