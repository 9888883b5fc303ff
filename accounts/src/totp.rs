//! Time-based one-time passwords (RFC 6238) as authenticator apps make
//! them: HMAC-SHA1, 6 digits, 30-second steps, one step of clock skew either
//! way; and the enrolment QR code, drawn as SVG on the server.

use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Who the authenticator app says the code is for.
const ISSUER: &str = "Hangar";

/// A fresh shared secret (160 random bits), base32 as apps take it.
pub fn new_secret() -> String {
    Secret::generate().to_base32()
}

fn authenticator(secret_base32: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', "_"))
        .build()
        .ok()
}

/// The `otpauth://totp/...` URI an authenticator app scans.
pub fn otpauth_uri(secret_base32: &str, account: &str) -> Option<String> {
    authenticator(secret_base32, account)?.to_url().ok()
}

/// The time step a code is valid for at `now_s` (±1 step), if it is valid.
pub fn matching_step(secret_base32: &str, code: &str, now_s: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    authenticator(secret_base32, "check")?.check(&code, now_s)
}

/// The code for `now_s` (tests and the CLI's self-check).
pub fn code_at(secret_base32: &str, now_s: u64) -> Option<String> {
    Some(authenticator(secret_base32, "code")?.generate(now_s).to_string())
}

/// The QR code of `text` as an SVG document.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference values of RFC 6238, appendix B: 8 digits, the three
    /// HMACs, each with its seed.
    fn rfc_code(algorithm: Algorithm, seed: &[u8], time: u64) -> String {
        Builder::new()
            .with_algorithm(algorithm)
            .with_digits(8)
            .with_step_duration(30)
            .with_secret(seed.to_vec())
            .build()
            .expect("an RFC seed is long enough")
            .generate(time)
            .to_string()
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let sha1 = b"12345678901234567890";
        let sha256 = b"12345678901234567890123456789012";
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234";
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        for (time, want1, want256, want512) in vectors {
            assert_eq!(rfc_code(Algorithm::SHA1, sha1, time), want1, "SHA1 at {time}");
            assert_eq!(rfc_code(Algorithm::SHA256, sha256, time), want256, "SHA256 at {time}");
            assert_eq!(rfc_code(Algorithm::SHA512, sha512, time), want512, "SHA512 at {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        // The RFC's SHA1 seed, base32.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        let now = 1_111_111_111;
        let code = code_at(&secret, now).expect("a code");
        assert_eq!(matching_step(&secret, &code, now), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now + 30), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now - 30), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now + 61), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn enrolment_gives_a_uri_and_a_qr_code() {
        let secret = new_secret();
        assert_eq!(Secret::try_from_base32(&secret).map(|s| s.as_bytes().len()).ok(), Some(20));
        let uri = otpauth_uri(&secret, "li.wei@caac.example.cn").expect("uri");
        assert!(uri.starts_with("otpauth://totp/Hangar:"), "{uri}");
        assert!(uri.contains(&format!("secret={secret}")), "{uri}");
        let svg = qr_svg(&uri).expect("svg");
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
