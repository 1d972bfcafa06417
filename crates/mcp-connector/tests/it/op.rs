//! The real OpenID provider of the tests: `interop/oidc_op.mjs` (npm
//! `oidc-provider`, pinned in interop/package.json and installed by
//! `interop/setup.sh`, which `scripts/test.sh` runs before `cargo test`),
//! started on 127.0.0.1 with test accounts, and a driver that signs in
//! through it over HTTP the way a browser does. Without the installed
//! packages these tests fail (they do not skip): CI must run them.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

use crate::common::TestServer;
use crate::idp::{CLIENT_ID, CLIENT_SECRET, Jar};

/// `interop/` of this repository.
pub fn interop() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// The pinned Node binary (npm package `node`) in interop/node_modules.
pub fn node() -> PathBuf {
    let node = interop().join("node_modules/.bin/node");
    assert!(
        node.exists() && interop().join("node_modules/oidc-provider").exists(),
        "interop/node_modules is missing oidc-provider: run `bash interop/setup.sh` \
         (scripts/test.sh does) before cargo test"
    );
    node
}

/// A running `oidc-provider`; stopped when dropped.
pub struct RealOp {
    pub issuer: String,
    child: tokio::process::Child,
}

/// The test accounts: alice (editors), victor (viewers), sam (no mapped group).
pub fn accounts() -> Value {
    json!({
        "alice": {"email": "alice@example.com", "name": "Alice Example",
                  "preferred_username": "alice", "groups": ["mcp-editors", "staff"]},
        "victor": {"email": "victor@example.com", "name": "Victor Viewer",
                   "preferred_username": "victor", "groups": ["mcp-viewers"]},
        "sam": {"email": "sam@example.com", "name": "Sam Sales",
                "preferred_username": "sam", "groups": ["sales"]},
    })
}

impl RealOp {
    pub async fn start() -> Self {
        let config = json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": ["http://127.0.0.1/oauth/upstream/callback"],
            "accounts": accounts(),
        });
        let mut child = tokio::process::Command::new(node())
            .arg(interop().join("oidc_op.mjs"))
            .arg(config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the provider starts within 30 s")
            .unwrap()
            .expect("the provider prints its issuer");
        let issuer = serde_json::from_str::<Value>(&line).unwrap()["issuer"]
            .as_str()
            .unwrap()
            .to_owned();
        // Keep reading: the provider logs notices to standard output, and a
        // closed pipe would end it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { issuer, child }
    }

    /// POST a test control (`/__test/rotate`, `/__test/delete?sub=…`).
    pub async fn control(&self, path: &str) {
        let res = reqwest::Client::new()
            .post(format!("{}{path}", self.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204, "{path}");
    }
}

impl Drop for RealOp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// `value` of the first `attr="…"` after `from` in `html`.
fn attr_after(html: &str, from: &str, attr: &str) -> Option<String> {
    let i = html.find(from)?;
    let rest = &html[i..];
    let needle = format!("{attr}=\"");
    let s = rest.find(&needle)? + needle.len();
    let e = rest[s..].find('"')? + s;
    Some(rest[s..e].replace("&amp;", "&"))
}

/// Follow a sign-in from `url` (our `/authorize`) through the provider's
/// login page, as `login`, until the connector answers its callback; that
/// answer (the consent page, or a refusal). `jar` carries the cookies.
pub async fn sign_in_over_http(
    srv: &TestServer,
    jar: &mut Jar,
    url: url::Url,
    login: &str,
) -> reqwest::Response {
    let http = &srv.client;
    let mut current = url;
    let mut post: Option<Vec<(String, String)>> = None;
    for _ in 0..15 {
        let req = match post.take() {
            Some(form) => http.post(current.clone()).form(&form),
            None => http.get(current.clone()),
        };
        let res = req.header("cookie", jar.header()).send().await.unwrap();
        jar.take(&res);
        let at_callback = current.path() == "/oauth/upstream/callback";
        if at_callback {
            return res;
        }
        if res.status().is_redirection() {
            let loc = res.headers()["location"].to_str().unwrap();
            current = current.join(loc).unwrap();
            continue;
        }
        assert_eq!(res.status().as_u16(), 200, "at {current}");
        let html = res.text().await.unwrap();
        let Some(action) = attr_after(&html, "<form", "action") else {
            panic!("no form at {current}: {html}");
        };
        current = current.join(&action).unwrap();
        if html.contains("name=\"prompt\" value=\"consent\"") {
            // The provider confirms the authorization (it asks native
            // clients each time).
            post = Some(vec![("prompt".into(), "consent".into())]);
            continue;
        }
        assert!(
            html.contains("name=\"login\""),
            "unexpected page at {current}: {html}"
        );
        post = Some(vec![
            ("prompt".into(), "login".into()),
            ("login".into(), login.into()),
            ("password".into(), "any password".into()),
        ]);
    }
    panic!("the sign-in did not come back to the connector");
}
