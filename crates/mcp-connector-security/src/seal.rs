//! HMAC-sealed opaque values.
//!
//! Pagination cursors and similar round-tripped state are handed to clients and
//! come back as attacker-controlled input. Sealing them with an HMAC lets the
//! server reject any value it did not mint (a forged or truncated cursor is an
//! "invalid cursor", not a query for arbitrary rows), while keeping the format
//! opaque. The payload is not encrypted: never seal secrets.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::secret::ct_eq;

type HmacSha256 = Hmac<Sha256>;

/// Length of the truncated tag. 128 bits is ample for values that expire with
/// the data they point into.
const TAG_LEN: usize = 16;

/// Why a sealed value was refused. Deliberately coarse: callers report
/// "invalid cursor" and nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Not base64url, too short, or the tag does not match.
    Invalid,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid sealed value")
    }
}

impl std::error::Error for SealError {}

/// Seals and opens values under one key. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

impl Sealer {
    /// A sealer with `key` (at least 32 bytes recommended). Every replica that
    /// must open another's values needs the same key.
    #[must_use]
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.into() }
    }

    fn tag(&self, context: &str, payload: &[u8]) -> [u8; TAG_LEN] {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        // The context separates domains: a cursor for one list is not a valid
        // cursor for another.
        mac.update(&(context.len() as u64).to_be_bytes());
        mac.update(context.as_bytes());
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&full[..TAG_LEN]);
        out
    }

    /// Seal `payload` for `context`; the result is URL-safe text.
    #[must_use]
    pub fn seal(&self, context: &str, payload: &[u8]) -> String {
        let mut buf = Vec::with_capacity(payload.len() + TAG_LEN);
        buf.extend_from_slice(payload);
        buf.extend_from_slice(&self.tag(context, payload));
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// A value derived from `input` under this key for `context`: 32 bytes
    /// of HMAC-SHA256, base64url. Deterministic, unguessable without the
    /// key, and never the input itself (the upstream login's PKCE verifier
    /// and nonce are derived from its `state` this way, so nothing secret
    /// is stored for them).
    #[must_use]
    pub fn derive(&self, context: &str, input: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(context, input))
    }

    fn mac(&self, context: &str, input: &[u8]) -> [u8; 32] {
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(b"derive\0");
        mac.update(&(context.len() as u64).to_be_bytes());
        mac.update(context.as_bytes());
        mac.update(input);
        mac.finalize().into_bytes().into()
    }

    /// Open a value sealed for `context`, returning its payload.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        // Bound the work done on hostile input before decoding it.
        if sealed.len() > 4096 {
            return Err(SealError::Invalid);
        }
        let mut buf = URL_SAFE_NO_PAD
            .decode(sealed.as_bytes())
            .map_err(|_| SealError::Invalid)?;
        if buf.len() < TAG_LEN {
            return Err(SealError::Invalid);
        }
        let tag = buf.split_off(buf.len() - TAG_LEN);
        if ct_eq(&tag, &self.tag(context, &buf)) {
            Ok(buf)
        } else {
            Err(SealError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Sealer::new(b"k".repeat(32).as_slice());
        let v = s.seal("cursor", b"42");
        assert_eq!(s.open("cursor", &v).as_deref(), Ok(&b"42"[..]));
    }

    #[test]
    fn derived_values_depend_on_key_context_and_input() {
        let s = Sealer::new(&[1; 32]);
        let a = s.derive("pkce", b"state");
        assert_eq!(a, s.derive("pkce", b"state"));
        assert_eq!(a.len(), 43);
        assert_ne!(a, s.derive("nonce", b"state"));
        assert_ne!(a, s.derive("pkce", b"other"));
        assert_ne!(a, Sealer::new(&[2; 32]).derive("pkce", b"state"));
        // Not the seal's tag either (domain separation).
        assert!(!s.seal("pkce", b"state").contains(&a));
    }

    #[test]
    fn refuses_other_key_context_and_tampering() {
        let s = Sealer::new(&[1; 32]);
        let v = s.seal("a", b"payload");
        assert_eq!(Sealer::new(&[2; 32]).open("a", &v), Err(SealError::Invalid));
        assert_eq!(s.open("b", &v), Err(SealError::Invalid));
        let mut bytes = v.into_bytes();
        bytes[0] = if bytes[0] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(s.open("a", &tampered), Err(SealError::Invalid));
        assert_eq!(s.open("a", "!!"), Err(SealError::Invalid));
        assert_eq!(s.open("a", ""), Err(SealError::Invalid));
        assert_eq!(s.open("a", &"A".repeat(5000)), Err(SealError::Invalid));
    }
}
