//! PKCE (RFC 7636) with the S256 method only: `plain` is refused by OAuth 2.1.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{ct_eq, sha256};

/// Whether `s` is a well-formed code verifier: 43 to 128 characters of
/// `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
#[must_use]
pub fn is_valid_verifier(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `s` looks like an S256 challenge: 43 base64url characters (a
/// SHA-256 digest).
#[must_use]
pub fn is_valid_s256_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The S256 challenge of `verifier`: `BASE64URL(SHA256(verifier))`.
#[must_use]
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge` (constant-time comparison).
#[must_use]
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    is_valid_verifier(verifier) && ct_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256_challenge(verifier), challenge);
        assert!(verify_s256(verifier, challenge));
        assert!(is_valid_s256_challenge(challenge));
    }

    #[test]
    fn wrong_or_malformed_verifier() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(!verify_s256(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            challenge
        ));
        assert!(!verify_s256("short", challenge));
        assert!(!verify_s256(
            &"a".repeat(129),
            &s256_challenge(&"a".repeat(129))
        ));
        assert!(!is_valid_verifier(
            "has space in it and is long enough to pass the length"
        ));
        assert!(!is_valid_s256_challenge("plain-challenge"));
    }
}
