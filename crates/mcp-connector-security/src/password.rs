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

/// Spend the time of one verification without a user, so that "no such
/// user" and "wrong password" take equally long.
pub fn verify_nobody(password: &SecretString) {
    // A fixed hash of a random value: it never matches.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0b1J0Ue8XpqfVjdo0Fxm8C1Xx0xv1VY3m1dY5uZbT9k";
    let _ = verify_password(DUMMY, password);
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
