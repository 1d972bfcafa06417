//! Discovery and registration as Claude does them after a 401: the
//! `WWW-Authenticate` challenge, the protected resource metadata (path-
//! suffixed and root), the authorization server metadata at the root, its
//! endpoints, registration (DCR or metadata documents) and whether Claude's
//! callback would be accepted.

use serde_json::{Value, json};
use url::Url;

use super::Doctor;
use super::probe::{Reply, error_chain};

/// Claude's callback, the redirect URI its registrations carry.
const CLAUDE_CALLBACK: &str = "https://claude.ai/api/mcp/auth_callback";
const CLAUDE_CIMD: &str = "https://claude.ai/oauth/mcp-oauth-client-metadata";

/// The `resource_metadata` parameter of a Bearer challenge.
fn resource_metadata(challenge: &str) -> Option<String> {
    let rest = challenge.trim().strip_prefix("Bearer")?;
    rest.split(',').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k.trim() == "resource_metadata").then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The same URL up to a trailing slash (RFC 8707 canonical forms).
fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Doctor {
    /// GET a metadata document: its JSON, or why not.
    async fn document(&self, url: &Url) -> Result<Value, String> {
        let res = self
            .client
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = res.status().as_u16();
        let text = res.text().await.map_err(|e| error_chain(&e))?;
        if status != 200 {
            return Err(format!("{status}"));
        }
        serde_json::from_str(&text)
            .map_err(|_| "200 but not JSON (an HTML page from the proxy?)".to_owned())
    }

    fn origin_url(&self, path: &str) -> Url {
        let mut u = self.url.clone();
        u.set_path(path);
        u.set_query(None);
        u
    }

    /// Whether `url` is on the host Claude was given, over https (or http on loopback).
    fn same_host_https(&self, url: &str) -> Result<(), String> {
        let Ok(u) = Url::parse(url) else {
            return Err(format!("`{url}` is not an absolute URL"));
        };
        if u.host_str() != self.url.host_str() {
            return Err(format!("{url} is on another host than {}", self.url));
        }
        if u.scheme() != self.url.scheme() {
            return Err(format!(
                "{url} is {} while the server is reached over {}",
                u.scheme(),
                self.url.scheme()
            ));
        }
        Ok(())
    }

    /// Everything after the 401. Stops at the first step Claude would stop at.
    pub(super) async fn oauth(&mut self, challenge: &Reply) {
        let Some(prm) = self.protected_resource(challenge).await else {
            return;
        };
        let Some(issuer) = prm["authorization_servers"][0].as_str().map(str::to_owned) else {
            self.report.fail(
                "well-known",
                "the protected resource metadata names no authorization_servers",
                "list the authorization server's issuer in authorization_servers",
            );
            return;
        };
        let Some(meta) = self.authorization_server(&issuer).await else {
            return;
        };
        self.endpoints(&meta).await;
        self.registration(&meta).await;
    }

    /// The challenge and the protected resource metadata (RFC 9728).
    async fn protected_resource(&mut self, challenge: &Reply) -> Option<Value> {
        let suffixed = self.origin_url(&format!(
            "/.well-known/oauth-protected-resource{}",
            self.url.path().trim_end_matches('/')
        ));
        let root = self.origin_url("/.well-known/oauth-protected-resource");
        match challenge
            .header("www-authenticate")
            .and_then(resource_metadata)
        {
            Some(at) => match self.same_host_https(&at) {
                Ok(()) => self.report.pass(
                    "challenge",
                    format!("401 WWW-Authenticate: Bearer resource_metadata=\"{at}\""),
                ),
                Err(why) => {
                    self.forwarded_or_public_url("challenge", format!("resource_metadata: {why}"))
                }
            },
            None => self.report.warn(
                "challenge",
                "the 401 has no WWW-Authenticate: Bearer resource_metadata=…",
                "send the challenge: Claude then falls back to the well-known URLs",
            ),
        }
        let (a, b) = (self.document(&suffixed).await, self.document(&root).await);
        let prm = match (&a, &b) {
            (Ok(doc), Ok(_)) => {
                self.report
                    .pass("well-known", format!("{suffixed} and {root}: 200 JSON"));
                doc.clone()
            }
            (Ok(doc), Err(e)) | (Err(e), Ok(doc)) => {
                let missing = if a.is_err() { &suffixed } else { &root };
                self.report.warn(
                    "well-known",
                    format!("{missing}: {e}"),
                    "serve the protected resource metadata at both the path-suffixed and the root URL",
                );
                doc.clone()
            }
            (Err(e1), Err(e2)) => {
                self.report.fail(
                    "well-known",
                    format!("protected resource metadata not served: {suffixed}: {e1}; {root}: {e2}"),
                    "forward /.well-known/ to the connector (nginx: location / or location /.well-known/; \
                     a proxy that only forwards /mcp breaks discovery)",
                );
                return None;
            }
        };
        let resource = prm["resource"].as_str().unwrap_or_default().to_owned();
        if same_resource(&resource, self.url.as_str()) {
            self.report
                .pass("resource", format!("resource = {resource}"));
        } else {
            self.forwarded_or_public_url(
                "resource",
                format!(
                    "the metadata says resource = {resource}, but Claude connects to {}",
                    self.url
                ),
            );
            return None;
        }
        Some(prm)
    }

    /// A URL the server publishes is wrong: over http (the proxy does not say
    /// the request came over https) or on another host or port (public_url).
    fn forwarded_or_public_url(&mut self, what: &'static str, detail: String) {
        let http_instead = self.url.scheme() == "https" && detail.contains("http://")
            || detail.contains(" is http while");
        if http_instead {
            self.report.fail(
                "X-Forwarded-Proto",
                format!("{what}: {detail}"),
                "the server believes it is served over http: have the proxy send X-Forwarded-Proto: https \
                 (nginx: proxy_set_header X-Forwarded-Proto $scheme), and set server.public_url to the https URL",
            );
        } else {
            self.report.fail(
                "public_url",
                format!("{what}: {detail}"),
                format!(
                    "set server.public_url to {} (the origin users paste into Claude)",
                    self.origin_url("/").as_str().trim_end_matches('/')
                ),
            );
        }
    }

    /// The authorization server metadata at the issuer's root (RFC 8414
    /// path insertion), also as `openid-configuration`.
    async fn authorization_server(&mut self, issuer: &str) -> Option<Value> {
        let Ok(base) = Url::parse(issuer) else {
            self.report.fail(
                "issuer",
                format!("`{issuer}` is not a URL"),
                "publish the issuer as an absolute https URL",
            );
            return None;
        };
        let path = base.path().trim_end_matches('/').to_owned();
        let at = |doc: &str| {
            let mut u = base.clone();
            u.set_path(&format!("/.well-known/{doc}{path}"));
            u
        };
        let oauth_url = at("oauth-authorization-server");
        let oidc_url = at("openid-configuration");
        let (oauth, oidc) = (
            self.document(&oauth_url).await,
            self.document(&oidc_url).await,
        );
        let meta = match (oauth, oidc) {
            (Ok(m), Ok(_)) => {
                self.report.pass(
                    "as-metadata",
                    format!("{oauth_url} and {oidc_url}: 200 JSON"),
                );
                m
            }
            (Ok(m), Err(_)) | (Err(_), Ok(m)) => {
                self.report.pass(
                    "as-metadata",
                    "authorization server metadata: 200 JSON (one of the two well-known names)",
                );
                m
            }
            (Err(e1), Err(e2)) => {
                self.report.fail(
                    "well-known",
                    format!("authorization server metadata not served: {oauth_url}: {e1}; {oidc_url}: {e2}"),
                    "forward /.well-known/ at the issuer's root to the authorization server",
                );
                return None;
            }
        };
        if meta["issuer"].as_str() != Some(issuer) {
            self.report.fail(
                "issuer",
                format!("metadata issuer {} is not exactly {issuer}", meta["issuer"]),
                "the issuer must be byte-identical everywhere (no trailing slash or path differences)",
            );
            return None;
        }
        if let Err(why) = self.same_host_https(issuer) {
            self.forwarded_or_public_url("issuer", why);
            return None;
        }
        let s256 = meta["code_challenge_methods_supported"]
            .as_array()
            .is_some_and(|m| m.iter().any(|v| v == "S256"));
        if !s256 {
            self.report.fail(
                "pkce",
                "code_challenge_methods_supported does not list S256",
                "advertise PKCE S256: Claude silently aborts without it",
            );
            return None;
        }
        self.report
            .pass("issuer", format!("issuer {issuer} exact, PKCE S256"));
        Some(meta)
    }

    /// The endpoints Claude calls: https, on this host, answering.
    async fn endpoints(&mut self, meta: &Value) {
        let mut problems = Vec::new();
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "registration_endpoint",
        ] {
            let Some(url) = meta[key].as_str() else {
                if key != "registration_endpoint" {
                    problems.push(format!("no {key}"));
                }
                continue;
            };
            if let Err(why) = self.same_host_https(url) {
                problems.push(format!("{key}: {why}"));
                continue;
            }
            let res = if key == "authorization_endpoint" {
                self.client.get(url).send().await
            } else {
                self.client
                    .post(url)
                    .form(&[("grant_type", "authorization_code")])
                    .send()
                    .await
            };
            match res.map(|r| r.status().as_u16()) {
                Ok(404) => {
                    problems.push(format!("{key} {url}: 404 (not forwarded to the server?)"))
                }
                Ok(s @ 500..) => problems.push(format!("{key} {url}: {s}")),
                Ok(_) => {}
                Err(e) => problems.push(format!("{key} {url}: {}", error_chain(&e))),
            }
        }
        if problems.is_empty() {
            self.report.pass(
                "endpoints",
                "authorize, token and register answer over https on this host",
            );
        } else if problems.iter().any(|p| p.contains(" is http while")) {
            self.report.fail(
                "X-Forwarded-Proto",
                problems.join("; "),
                "the server builds its URLs over http: have the proxy send X-Forwarded-Proto: https",
            );
        } else {
            self.report.fail(
                "endpoints",
                problems.join("; "),
                "forward /authorize, /token and /register to the connector",
            );
        }
    }

    /// Registration the way Claude does it, and its callback accepted.
    async fn registration(&mut self, meta: &Value) {
        let cimd = meta["client_id_metadata_document_supported"] == true
            && meta["token_endpoint_auth_methods_supported"]
                .as_array()
                .is_some_and(|m| m.iter().any(|v| v == "none"));
        let mut client_id = None;
        if let Some(register) = meta["registration_endpoint"].as_str() {
            let body = json!({
                "client_name": "Claude (mcp-connector doctor)",
                "redirect_uris": [CLAUDE_CALLBACK],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post",
            });
            match self.client.post(register).json(&body).send().await {
                Ok(r) if r.status().as_u16() == 201 => {
                    let doc: Value = r.json().await.unwrap_or_default();
                    client_id = doc["client_id"].as_str().map(str::to_owned);
                }
                Ok(r) => self.report.warn(
                    "registration",
                    format!(
                        "Dynamic Client Registration with Claude's body: {}",
                        r.status()
                    ),
                    "accept Claude's registration (client_secret_post, its callback URLs)",
                ),
                Err(e) => self
                    .report
                    .warn("registration", error_chain(&e), "check /register"),
            }
        }
        let how = match (&client_id, cimd) {
            (Some(_), true) => "Dynamic Client Registration and Client ID Metadata Documents",
            (Some(_), false) => "Dynamic Client Registration",
            (None, true) => "Client ID Metadata Documents",
            (None, false) => {
                self.report.fail(
                    "registration",
                    "Claude cannot register: no working registration_endpoint and no client_id_metadata_document_supported",
                    "enable auth.registration or auth.client_metadata_documents, or pre-register Claude (client add)",
                );
                return;
            }
        };
        self.report.pass("registration", how);
        let id = client_id.unwrap_or_else(|| CLAUDE_CIMD.to_owned());
        self.callback(meta, &id).await;
    }

    /// `/authorize` with Claude's callback: a login page, not an error.
    async fn callback(&mut self, meta: &Value, client_id: &str) {
        let Some(authorize) = meta["authorization_endpoint"]
            .as_str()
            .and_then(|u| Url::parse(u).ok())
        else {
            return;
        };
        let mut url = authorize;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", CLAUDE_CALLBACK)
            .append_pair(
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            )
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "mcp-connector-doctor")
            .append_pair("resource", self.url.as_str());
        match self.client.get(url).send().await {
            Ok(r) if r.status().as_u16() == 200 => {
                self.report.pass(
                    "callback",
                    format!("Claude's callback {CLAUDE_CALLBACK} is accepted (login page)"),
                );
            }
            Ok(r) if r.status().is_redirection() => {
                let to = r
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if to.starts_with(CLAUDE_CALLBACK) && to.contains("error=") {
                    self.report.fail(
                        "callback",
                        format!("/authorize redirects to Claude with an error: {to}"),
                        "see the error code",
                    );
                } else {
                    self.report.pass(
                        "callback",
                        format!("Claude's callback is accepted (redirects to {to})"),
                    );
                }
            }
            Ok(r) => self.report.fail(
                "callback",
                format!("/authorize with Claude's callback: {}", r.status()),
                "allow https://claude.ai/api/mcp/auth_callback as a redirect URI",
            ),
            Err(e) => self
                .report
                .fail("callback", error_chain(&e), "check /authorize"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameter() {
        assert_eq!(
            resource_metadata(r#"Bearer error="invalid_token", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#)
                .as_deref(),
            Some("https://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(resource_metadata("Basic realm=x"), None);
        assert!(same_resource("https://h/mcp/", "https://h/mcp"));
        assert!(!same_resource("http://h/mcp", "https://h/mcp"));
    }
}
