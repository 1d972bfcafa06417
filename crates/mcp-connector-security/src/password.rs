//! Password hashing with argon2id.
//!
//! Parameters are argon2's defaults (m = 19 MiB, t = 2, p = 1), the OWASP
//! baseline; they are stored in the PHC string, so raising them later keeps
//! old hashes verifiable. Verification is CPU-bound for tens of milliseconds:
//! callers run it off the async executor.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};

use crate::SecretString;

/// Shortest password `hash_password` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why a password cannot be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most 1024 bytes")]
    TooLong,
    #[error("password hashing failed")]
    Hash,
}

/// argon2id PHC string of `password`, with a fresh random salt.
pub fn hash_password(password: &SecretString) -> Result<String, PasswordError> {
    let p = password.expose();
    if p.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if p.len() > 1024 {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::encode_b64(&crate::random_bytes(16)).map_err(|_| PasswordError::Hash)?;
    Argon2::default()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never
/// matches.
#[must_use]
pub fn verify_password(hash: &str, password: &SecretString) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    password.expose().len() <= 1024
        && Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
}

/// A fixed hash of a random value: it never matches.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0b1J0Ue8XpqfVjdo0Fxm8C1Xx0xv1VY3m1dY5uZbT9k";

/// Spend the time of one verification without a user, so that "no such
/// user" and "wrong password" take equally long.
pub fn verify_nobody(password: &SecretString) {
    let _ = verify_password(DUMMY, password);
}

/// Largest working memory [`Scratch`] accepts from a stored hash (64 MiB):
/// a hash with absurd parameters must not make a check allocate gigabytes.
const MAX_SCRATCH_BLOCKS: usize = 64 * 1024;

/// argon2 working memory kept between checks, so that a thread doing many
/// checks allocates its 19 MiB once instead of once per check (with
/// glibc's allocator, memory freed by many threads is kept per thread and
/// the process grows with every burst of concurrent checks).
#[derive(Default)]
pub struct Scratch {
    blocks: Vec<argon2::Block>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl Scratch {
    /// [`verify_password`] in this working memory.
    #[must_use]
    pub fn verify(&mut self, hash: &str, password: &SecretString) -> bool {
        self.check(hash, password).unwrap_or(false)
    }

    /// [`verify_nobody`] in this working memory.
    pub fn verify_nobody(&mut self, password: &SecretString) {
        let _ = self.check(DUMMY, password);
    }

    fn check(&mut self, hash: &str, password: &SecretString) -> Option<bool> {
        let pw = password.expose().as_bytes();
        if pw.len() > 1024 {
            return Some(false);
        }
        let parsed = PasswordHash::new(hash).ok()?;
        let params = argon2::Params::try_from(&parsed).ok()?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => argon2::Version::try_from(v).ok()?,
            None => argon2::Version::default(),
        };
        let expected = parsed.hash?;
        let mut salt_buf = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_buf).ok()?;
        let blocks = params.block_count();
        if blocks > MAX_SCRATCH_BLOCKS {
            return None;
        }
        if self.blocks.len() < blocks {
            self.blocks.resize(blocks, argon2::Block::default());
        }
        let mut out = vec![0u8; expected.len()];
        argon2::Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(pw, salt, &mut out, &mut self.blocks[..blocks])
            .ok()?;
        Some(crate::ct_eq(&out, expected.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let pw = SecretString::new("correct horse battery");
        let h = hash_password(&pw).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, &pw));
        assert!(!verify_password(
            &h,
            &SecretString::new("correct horse battery!")
        ));
        // Salted: the same password hashes differently.
        assert_ne!(h, hash_password(&pw).unwrap());
    }

    #[test]
    fn scratch_verifies_like_verify_password_and_reuses_its_memory() {
        let pw = SecretString::new("correct horse battery");
        let h = hash_password(&pw).unwrap();
        let mut s = Scratch::default();
        assert!(s.verify(&h, &pw));
        let after_one = s.blocks.len();
        assert_eq!(after_one, 19456, "argon2 default m = 19 MiB");
        assert!(!s.verify(&h, &SecretString::new("correct horse battery!")));
        assert!(!s.verify("not a phc string", &pw));
        assert!(!s.verify(
            "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$0b1J0Ue8XpqfVjdo0Fxm8C1Xx0xv1VY3m1dY5uZbT9k",
            &pw
        ), "absurd memory cost is refused, not allocated");
        s.verify_nobody(&pw);
        assert_eq!(s.blocks.len(), after_one, "no growth after the first check");
    }

    #[test]
    fn short_and_malformed() {
        assert_eq!(
            hash_password(&SecretString::new("short")),
            Err(PasswordError::TooShort)
        );
        assert!(!verify_password(
            "not a phc string",
            &SecretString::new("whatever whatever")
        ));
    }

    #[test]
    fn nobody_takes_as_long_as_a_real_check() {
        let pw = SecretString::new("correct horse battery");
        let h = hash_password(&pw).unwrap();
        let t = std::time::Instant::now();
        let _ = verify_password(&h, &SecretString::new("wrong password here"));
        let real = t.elapsed();
        let t = std::time::Instant::now();
        verify_nobody(&SecretString::new("wrong password here"));
        let nobody = t.elapsed();
        // Same parameters, same work: within a factor of three either way.
        assert!(
            nobody * 3 > real && real * 3 > nobody,
            "{real:?} vs {nobody:?}"
        );
    }
}
