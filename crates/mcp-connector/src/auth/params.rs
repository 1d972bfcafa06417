//! Parameters of the OAuth endpoints (the `/authorize` query, the login and
//! consent forms, the `/token` and `/revoke` bodies), parsed one way.
//!
//! An empty value counts as absent (RFC 6749 §3.1). Repeats are kept so
//! each endpoint can apply its rule: a repeated parameter is an error
//! everywhere except the consent form's `scope` checkboxes.

use axum::http::{HeaderMap, header};

use super::OAuthError;

/// Decoded `name=value` pairs in request order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decode `application/x-www-form-urlencoded` bytes (a query or a body).
    pub fn parse(encoded: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(encoded).into_owned().collect())
    }

    /// A back-channel request body: it must be a form (some clients send
    /// JSON to the token endpoint; they get a clear error) and repeat no
    /// parameter.
    pub fn from_form_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let params = Self::parse(body);
        match params.first_repeated() {
            Some(name) => Err(OAuthError::InvalidRequest(format!(
                "parameter `{name}` is repeated"
            ))),
            None => Ok(params),
        }
    }

    /// The first value of `name`; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// [`Self::get`], or `invalid_request` naming the parameter.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("`{name}` is required")))
    }

    /// Every value of `name`, in order (checkbox lists).
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_repeated(&self, name: &str) -> bool {
        self.all(name).nth(1).is_some()
    }

    /// The first parameter seen a second time, shortened and without
    /// control characters so that it can go into an error message.
    pub fn first_repeated(&self) -> Option<String> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (k, _))| self.0[..*i].iter().any(|(seen, _)| seen == k))
            .map(|(_, (k, _))| k.chars().filter(|c| !c.is_control()).take(40).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_repeats() {
        let p = Params::parse(b"a=1&b=&c=x+y&s=r&s=w&a=2");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(p.all("s").collect::<Vec<_>>(), ["r", "w"]);
        assert!(p.is_repeated("s") && !p.is_repeated("c"));
        assert_eq!(p.first_repeated().as_deref(), Some("s"));
        assert!(p.require("b").is_err());
    }

    #[test]
    fn back_channel_bodies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            Params::from_form_body(&h, b"a=1").unwrap().get("a"),
            Some("1")
        );
        assert!(Params::from_form_body(&h, b"a=1&a=2").is_err());
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(Params::from_form_body(&h, b"{}").is_err());
    }
}
