//! Access tokens (short-lived HS256 JWTs) and refresh tokens (random,
//! stored only as a hash, rotated on every use).

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::roles::Role;

const ISSUER: &str = "hangar";
/// How long the console waits for the second factor after the password.
const CHALLENGE_SECONDS: i64 = 300;

/// What an access token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub iss: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired; get a new one from POST /api/v1/auth/refresh")]
    Expired,
    #[error("the access token is not valid; sign in again with POST /api/v1/auth/login")]
    Invalid,
}

/// The signing key and token lifetimes.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Derived from the signing secret: binds a CSRF token to each session token.
    csrf_key: [u8; 32],
    /// Derived from the signing secret: signs the console's "password
    /// checked, code next" step of a two-factor sign-in.
    challenge_key: [u8; 32],
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("access_ttl", &self.access_ttl).finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            csrf_key: blake3::derive_key("hangar console session csrf v1", secret),
            challenge_key: blake3::derive_key("hangar two-factor challenge v1", secret),
            access_ttl,
            refresh_ttl,
        }
    }

    /// The CSRF token that goes with a session token: requests signed in by
    /// the session cookie must repeat it in a header, which another site's
    /// page cannot read and so cannot send.
    pub fn csrf_for(&self, token: &str) -> blake3::Hash {
        blake3::keyed_hash(&self.csrf_key, token.as_bytes())
    }

    /// A token saying that `user_id` gave the right password at `now_s`:
    /// the console's second sign-in step takes it for five minutes instead
    /// of the password.
    pub fn challenge_for(&self, user_id: &str, now_s: i64) -> String {
        let until = now_s + CHALLENGE_SECONDS;
        let mac = blake3::keyed_hash(&self.challenge_key, format!("{user_id}.{until}").as_bytes());
        format!("{user_id}.{until}.{}", mac.to_hex())
    }

    /// The account of a challenge that is ours and still fresh at `now_s`.
    pub fn challenge_user(&self, challenge: &str, now_s: i64) -> Option<String> {
        let mut parts = challenge.trim().rsplitn(3, '.');
        let (mac, until, user_id) = (parts.next()?, parts.next()?, parts.next()?);
        let expected = blake3::keyed_hash(&self.challenge_key, format!("{user_id}.{until}").as_bytes());
        // blake3's Hash compares in constant time.
        let fresh = until.parse::<i64>().is_ok_and(|until| until > now_s);
        (blake3::Hash::from_hex(mac).ok()? == expected && fresh).then(|| user_id.to_owned())
    }

    /// A signed access token for the user, valid from `now_s` for the access lifetime.
    pub fn issue(&self, user_id: &str, email: &str, role: Role, now_s: i64) -> String {
        self.issue_for(user_id, email, role, now_s, self.access_ttl)
    }

    /// A signed token valid from `now_s` for `lifetime` (browser sessions live longer).
    pub fn issue_for(&self, user_id: &str, email: &str, role: Role, now_s: i64, lifetime: Duration) -> String {
        let claims = Claims {
            sub: user_id.to_owned(),
            email: email.to_owned(),
            role,
            iss: ISSUER.to_owned(),
            iat: now_s,
            exp: now_s + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2),
        };
        self.sign(&claims)
    }

    /// Signs any claims (tests use it to make expired tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        // HS256 over serializable claims cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).unwrap_or_default()
    }

    /// The claims of a valid, unexpired token signed with our key.
    ///
    /// # Errors
    /// Expired, or anything else wrong (signature, shape, issuer).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        })
    }
}

/// A new refresh token and the hash to store.
pub fn new_refresh_token() -> (String, String) {
    let token = format!("hrt_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let hash = refresh_hash(&token);
    (token, hash)
}

/// The stored form of a refresh token.
pub fn refresh_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// A random signing secret (for the embedded default's key file).
pub fn random_secret() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &[u8]) -> TokenKeys {
        TokenKeys::new(secret, Duration::from_secs(900), Duration::from_secs(86400))
    }

    #[test]
    fn tokens_verify_until_they_expire() {
        let keys = keys(b"0123456789abcdef0123456789abcdef");
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue("u1", "a@b.c", Role::User, now);
        let claims = keys.verify(&token).expect("valid");
        assert_eq!(claims.sub, "u1");
        assert_eq!(claims.exp - claims.iat, 900);
        let old = keys.issue("u1", "a@b.c", Role::User, now - 1000);
        assert_eq!(keys.verify(&old).map(|c| c.sub), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let keys_a = keys(b"0123456789abcdef0123456789abcdef");
        let keys_b = keys(b"fedcba9876543210fedcba9876543210");
        let now = chrono::Utc::now().timestamp();
        let token = keys_a.issue("u1", "a@b.c", Role::User, now);
        assert_eq!(keys_b.verify(&token).map(|c| c.sub), Err(TokenError::Invalid));
        // Promote ourselves in the payload, keeping the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = keys_a.issue("u1", "a@b.c", Role::Admin, now);
        let forged_payload = forged.split('.').nth(1).unwrap_or_default();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(keys_a.verify(&tampered).map(|c| c.sub), Err(TokenError::Invalid));
        assert_eq!(keys_a.verify("not.a.jwt").map(|c| c.sub), Err(TokenError::Invalid));
    }

    #[test]
    fn challenges_name_their_account_until_they_expire_and_cannot_be_forged() {
        let keys = keys(b"0123456789abcdef0123456789abcdef");
        let challenge = keys.challenge_for("usr_1", 1000);
        assert_eq!(keys.challenge_user(&challenge, 1299).as_deref(), Some("usr_1"));
        assert_eq!(keys.challenge_user(&challenge, 1300), None);
        let forged = challenge.replacen("usr_1", "usr_2", 1);
        assert_eq!(keys.challenge_user(&forged, 1000), None);
        let other = TokenKeys::new(b"fedcba9876543210fedcba9876543210", Duration::ZERO, Duration::ZERO);
        assert_eq!(other.challenge_user(&challenge, 1000), None);
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(refresh_hash(&a), hash_a);
        assert!(!hash_a.contains(&a));
    }
}
