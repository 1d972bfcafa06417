//! The admin console in headless Chromium (playwright-core and Debian's
//! chromium, driven by interop/admin_browser.mjs) with JavaScript off.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::admin_console::{console, people};
use crate::common::TestServer;
use crate::oauth_flow::{ClientSpec, PASSWORD, READ, insert_client, mint};
use crate::oauth_resource::call;
use crate::op::{interop, node};

/// The console in headless Chromium with JavaScript off: sign-in redirect,
/// every page, a client revoked from its page (its token refused), the
/// chain verified. Screenshots go to interop/results/admin (git-ignored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_console_in_chromium() {
    let srv = TestServer::try_spawn(crate::common::Backend::Sqlite, console())
        .await
        .unwrap();
    let (_, alice) = people(&srv).await;
    let (client, _) = insert_client(&srv, &ClientSpec::default()).await;
    let (token, _) = mint(&srv, &client, Some(&alice), READ).await;
    let args = json!({"department": "engineering"});
    assert_eq!(
        call(&srv, &token, "get_employee_count", args.clone())
            .await
            .0,
        200
    );
    let shots = interop().join("results/admin");
    let out = tokio::process::Command::new(node())
        .arg(interop().join("admin_browser.mjs"))
        .args([srv.base.as_str(), "root", PASSWORD, client.as_str()])
        .arg(&shots)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser run failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        result["signin_url"]
            .as_str()
            .unwrap()
            .contains("/signin?return_to=%2Fadmin"),
        "{result}"
    );
    for (path, title) in [
        ("/admin", "Overview"),
        ("/admin/clients", "Clients"),
        ("/admin/users", "Users"),
        ("/admin/grants", "Grants"),
        ("/admin/tools", "Tools"),
        ("/admin/audit", "Audit trail"),
    ] {
        assert_eq!(result["pages"][path], title, "{result}");
    }
    assert!(
        result["revoked"].as_str().unwrap().contains(&client),
        "{result}"
    );
    assert!(
        result["verified"]
            .as_str()
            .unwrap()
            .contains("chain intact"),
        "{result}"
    );
    assert_eq!(call(&srv, &token, "get_employee_count", args).await.0, 401);
    assert!(
        srv.state
            .db
            .client(&client)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    for shot in [
        "signin", "overview", "clients", "tools", "audit", "revoked", "verified",
    ] {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}.png");
    }
    srv.stop().await;
}
