//! Unguessable ids and tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

/// `n` bytes from the operating system's CSPRNG.
#[must_use]
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // ThreadRng is a CSPRNG (ChaCha12) reseeded from the operating system.
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// A URL-safe token carrying `n_bytes` of entropy (base64url, no padding).
///
/// The alphabet is a subset of visible ASCII, so the result is also a valid
/// `Mcp-Session-Id` and a valid OAuth token value.
#[must_use]
pub fn random_token(n_bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_url_safe() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
