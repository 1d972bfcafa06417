//! Encryption at rest for the few secrets the connector must be able to read
//! back (an identity provider's refresh token): ChaCha20-Poly1305 with a
//! random 96-bit nonce per value and the value's purpose as associated data,
//! so a value sealed for one purpose does not open for another.
//!
//! Everything else the connector stores is a hash (tokens, codes, client
//! secrets, passwords); use [`crate::sha256_hex`] or [`crate::password`] when
//! the plaintext is never needed again.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroize as _;

const NONCE_LEN: usize = 12;
/// Longest sealed text accepted by [`Vault::open`] (refresh tokens are a few
/// hundred bytes to a few KiB).
const MAX_SEALED: usize = 16 * 1024;

/// Why a sealed value did not open: malformed, tampered with, sealed under
/// another key or for another purpose. Deliberately one variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultError;

impl std::fmt::Display for VaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the sealed value cannot be opened")
    }
}

impl std::error::Error for VaultError {}

/// Encrypts and decrypts values under one 256-bit key. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    cipher: std::sync::Arc<ChaCha20Poly1305>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<key redacted>)")
    }
}

impl Vault {
    /// A vault whose key is derived from every part of `parts` (HMAC-SHA256
    /// keyed by the first, over the others, length-prefixed). Deriving from
    /// two secrets kept in different places (a database secret and a
    /// configured one) means neither a database dump nor the config file
    /// alone opens the values.
    #[must_use]
    pub fn derived(purpose: &str, parts: &[&[u8]]) -> Self {
        let first = parts.first().copied().unwrap_or_default();
        let mut mac = match <Hmac<Sha256> as hmac::Mac>::new_from_slice(first) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(&(purpose.len() as u64).to_be_bytes());
        mac.update(purpose.as_bytes());
        for part in parts.iter().skip(1) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let mut key: [u8; 32] = mac.finalize().into_bytes().into();
        let cipher = <ChaCha20Poly1305 as KeyInit>::new(Key::from_slice(&key));
        key.zeroize();
        Self {
            cipher: std::sync::Arc::new(cipher),
        }
    }

    /// Encrypt `plaintext` for `context`; URL-safe text.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, VaultError> {
        let nonce_bytes = crate::random_bytes(NONCE_LEN);
        let nonce = Nonce::from_slice(&nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| VaultError)?;
        let mut out = nonce_bytes;
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypt a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, VaultError> {
        if sealed.len() > MAX_SEALED {
            return Err(VaultError);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed.as_bytes())
            .map_err(|_| VaultError)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(VaultError);
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| VaultError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fresh_nonces() {
        let v = Vault::derived("refresh", &[b"db secret", b"client secret"]);
        let a = v.seal("user:1", b"rt-123").unwrap();
        let b = v.seal("user:1", b"rt-123").unwrap();
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.contains("rt-123"));
        assert_eq!(v.open("user:1", &a).unwrap(), b"rt-123");
        assert_eq!(v.open("user:1", &b).unwrap(), b"rt-123");
    }

    #[test]
    fn refuses_other_keys_contexts_and_tampering() {
        let v = Vault::derived("refresh", &[b"db secret", b"client secret"]);
        let s = v.seal("user:1", b"rt-123").unwrap();
        // Either secret alone, or another purpose, derives another key.
        for other in [
            Vault::derived("refresh", &[b"db secret", b"other secret"]),
            Vault::derived("refresh", &[b"other db", b"client secret"]),
            Vault::derived("other", &[b"db secret", b"client secret"]),
        ] {
            assert_eq!(other.open("user:1", &s), Err(VaultError));
        }
        assert_eq!(v.open("user:2", &s), Err(VaultError));
        let mut bytes = s.into_bytes();
        let i = bytes.len() - 3;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(v.open("user:1", &tampered), Err(VaultError));
        assert_eq!(v.open("user:1", "short"), Err(VaultError));
        assert_eq!(v.open("user:1", "!!!"), Err(VaultError));
        assert_eq!(
            v.open("user:1", &"A".repeat(MAX_SEALED + 1)),
            Err(VaultError)
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let v = Vault::derived("x", &[b"k"]);
        assert_eq!(format!("{v:?}"), "Vault(<key redacted>)");
    }
}
