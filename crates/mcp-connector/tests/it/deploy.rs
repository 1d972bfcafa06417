//! The deployment recipes under `deploy/`, run for real: the Debian `nginx`
//! and `caddy` packages in front of one connector, with TLS from a CA made
//! here, checked by `mcp-connector doctor`. The recipes pass; deliberately
//! broken variants of them are each diagnosed by name.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_connector::config::{AuthMode, Config, Overrides};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd,
};
use serde_json::Value;

use crate::common::{Backend, Opts, TestServer, binary};
use crate::oauth_flow::{READ, mint, test_client};

/// The name the tests serve, resolved with `doctor --resolve`.
pub const HOST: &str = "mcp.example.test";
/// A second name on the same certificate: the URL of a wrong `public_url`.
const OTHER_HOST: &str = "other.example.test";

pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Whether `program` is installed; when not, say so visibly. Under
/// `scripts/test.sh` (which installs every tool first and sets
/// `MCP_CONNECTOR_REQUIRE_TOOLS=1`) a missing tool fails the test instead:
/// CI never passes by skipping.
pub fn installed(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found && std::env::var_os("MCP_CONNECTOR_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!(
            "`{program}` is not installed, and MCP_CONNECTOR_REQUIRE_TOOLS=1 (run interop/setup.sh)"
        );
    }
    if !found {
        eprintln!(
            "SKIPPED: `{program}` is not installed (interop/setup.sh installs it: apt-get install {program})"
        );
    }
    found
}

/// A free loopback port (bound, then released for a proxy to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Wait until something accepts connections on `port`.
pub fn wait_listening(port: u16, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A test CA and the certificates the variants serve, as PEM files.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let root_key = KeyPair::generate().expect("key");
        let mut root = CertificateParams::new(Vec::<String>::new()).expect("params");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.distinguished_name
            .push(DnType::CommonName, "mcp-connector test root CA");
        let root = CertifiedIssuer::self_signed(root, root_key).expect("root");
        let int_key = KeyPair::generate().expect("key");
        let mut int = CertificateParams::new(Vec::<String>::new()).expect("params");
        int.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        int.distinguished_name
            .push(DnType::CommonName, "mcp-connector test intermediate CA");
        let int = CertifiedIssuer::signed_by(int, int_key, &root).expect("intermediate");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, root.pem()).expect("write");
        let pki = Self { dir, ca };

        let names = vec![HOST.to_owned(), OTHER_HOST.to_owned()];
        let leaf = |not_after: Option<(i32, u8, u8)>| {
            let mut p = CertificateParams::new(names.clone()).expect("params");
            p.distinguished_name.push(DnType::CommonName, HOST);
            if let Some((y, m, d)) = not_after {
                p.not_before = date_time_ymd(y - 1, m, d);
                p.not_after = date_time_ymd(y, m, d);
            }
            (p, KeyPair::generate().expect("key"))
        };
        let write = |name: &str, pems: &[String], key: &KeyPair| {
            std::fs::write(pki.path(&format!("{name}.pem")), pems.concat()).expect("write");
            std::fs::write(pki.path(&format!("{name}.key")), key.serialize_pem()).expect("write");
        };
        let (p, k) = leaf(None);
        let good = p.signed_by(&k, &int).expect("leaf");
        write("good", &[good.pem(), int.pem()], &k);
        write("leaf-only", &[good.pem()], &k);
        let (p, k) = leaf(Some((2024, 1, 1)));
        let expired = p.signed_by(&k, &int).expect("leaf");
        write("expired", &[expired.pem(), int.pem()], &k);
        // Valid, but for one more week.
        let days = mcp_connector::clock::unix_now().div_euclid(86_400) + 7;
        let (y, m, d) = mcp_connector::clock::civil_from_days(days);
        let (p, k) = leaf(Some((y as i32, m as u8, d as u8)));
        let expiring = p.signed_by(&k, &int).expect("leaf");
        write("expiring", &[expiring.pem(), int.pem()], &k);
        let (p, k) = leaf(None);
        let own = p.self_signed(&k).expect("self-signed");
        write("self-signed", &[own.pem()], &k);
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `text` with `from` replaced by `to`, which must occur: a recipe that
/// changes shape fails here instead of being tested in a form nobody uses.
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "`{from}` is not in the recipe:\n{text}"
    );
    text.replace(from, to)
}

/// A running proxy process, killed on drop.
pub struct Proxy {
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl Proxy {
    pub fn new(child: Child) -> Self {
        Self { child, _dir: None }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `deploy/nginx.conf` as a site on `port`, proxying to `upstream`, with
/// certificate `cert` of `pki`, after `tweak`.
fn nginx(
    pki: &Pki,
    port: u16,
    upstream: &str,
    cert: &str,
    tweak: impl Fn(String) -> String,
) -> Proxy {
    let recipe =
        std::fs::read_to_string(repo_file("deploy/nginx.conf")).expect("deploy/nginx.conf");
    let site = edit(
        &recipe,
        "listen 443 ssl;",
        &format!("listen 127.0.0.1:{port} ssl;"),
    );
    let site = edit(
        &site,
        "server_name tools.example.com;",
        &format!("server_name {HOST};"),
    );
    let site = edit(
        &site,
        "/etc/letsencrypt/live/tools.example.com/fullchain.pem",
        &pki.path(&format!("{cert}.pem")).display().to_string(),
    );
    let site = edit(
        &site,
        "/etc/letsencrypt/live/tools.example.com/privkey.pem",
        &pki.path(&format!("{cert}.key")).display().to_string(),
    );
    let site = tweak(edit(
        &site,
        "http://127.0.0.1:8000",
        &format!("http://{upstream}"),
    ));
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_owned();
    let d = dir.display();
    // One process (no master, no workers to orphan), no daemon, every
    // path in the temporary directory.
    let main = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         {site}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).expect("write");
    let log = dir.join("error.log");
    let mut child = Command::new("nginx")
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(&log)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).expect("log"))
        .spawn()
        .expect("nginx starts");
    wait_listening(port, &mut child, &dir.join("stderr.log"));
    Proxy {
        child,
        _dir: Some(tmp),
    }
}

/// `deploy/Caddyfile` on `port` with certificate `cert` of `pki`.
fn caddy(pki: &Pki, port: u16, upstream: &str, cert: &str) -> Proxy {
    let recipe = std::fs::read_to_string(repo_file("deploy/Caddyfile")).expect("deploy/Caddyfile");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_owned();
    // The recipe lets Caddy get a certificate from Let's Encrypt; here it
    // gets the test CA's, and neither the admin API nor port 80 is opened.
    let site = edit(
        &recipe,
        "tools.example.com {",
        &format!(
            "https://{HOST}:{port} {{\n\ttls {} {}",
            pki.path(&format!("{cert}.pem")).display(),
            pki.path(&format!("{cert}.key")).display()
        ),
    );
    let site = edit(
        &site,
        "reverse_proxy 127.0.0.1:8000",
        &format!("reverse_proxy {upstream}"),
    );
    let text = format!(
        "{{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system {}\n}}\n\n{site}",
        dir.join("data").display()
    );
    std::fs::write(dir.join("Caddyfile"), text).expect("write");
    let log = dir.join("caddy.log");
    let mut child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.join("Caddyfile"))
        .env("HOME", &dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("caddy starts");
    wait_listening(port, &mut child, &log);
    Proxy {
        child,
        _dir: Some(tmp),
    }
}

/// `doctor --json` against `url` through the proxy; (exit code, report).
pub fn doctor(pki: &Pki, url: &str, token: Option<&str>) -> (i32, Value) {
    let host = url::Url::parse(url).expect("url");
    let host = host.host_str().expect("host");
    let mut c = binary();
    c.args(["doctor", url, "--json", "--sse-wait", "3", "--ca-file"])
        .arg(&pki.ca)
        .args(["--resolve", &format!("{host}:127.0.0.1")]);
    if let Some(t) = token {
        c.args(["--token", t]);
    }
    let out = c.output().expect("doctor runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "doctor printed no JSON: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// The checks of a report with `status`, as `name: detail`.
pub fn with_status(report: &Value, status: &str) -> Vec<String> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| {
            format!(
                "{}: {}",
                c["name"].as_str().unwrap_or(""),
                c["detail"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// The report passes: exit 0, nothing failed, nothing to warn about.
fn clean(what: &str, (code, report): &(i32, Value)) {
    assert_eq!(*code, 0, "{what}: {report:#}");
    assert!(with_status(report, "fail").is_empty(), "{what}: {report:#}");
    assert!(with_status(report, "warn").is_empty(), "{what}: {report:#}");
}

/// `name` failed (or warned, with `warn`), and the exit code says so.
fn diagnosed(what: &str, (code, report): &(i32, Value), name: &str, warn: bool) {
    let status = if warn { "warn" } else { "fail" };
    let hits = with_status(report, status);
    assert!(
        hits.iter().any(|h| h.starts_with(&format!("{name}:"))),
        "{what}: no {status} named {name}: {report:#}"
    );
    assert_eq!(*code, i32::from(!warn), "{what}: exit code: {report:#}");
    eprintln!("{what}: diagnosed: {}", hits.join(" | "));
}

/// The connector as deploy/connector.toml configures it, on `public`.
fn recipe(c: &mut Config) {
    let r = Config::load(
        Some(&repo_file("deploy/connector.toml")),
        &Overrides {
            database_url: Some("sqlite://unused.db".into()),
            ..Overrides::default()
        },
    )
    .expect("deploy/connector.toml loads");
    assert_eq!(r.auth.mode, AuthMode::OAuth);
    c.trusted_proxies = r.trusted_proxies;
    c.allowed_origins.extend(r.allowed_origins);
}

async fn connector(port: u16) -> (TestServer, String) {
    let public: &'static str = Box::leak(format!("https://{HOST}:{port}").into_boxed_str());
    let srv = TestServer::try_spawn(
        Backend::Sqlite,
        Opts {
            public_url: Some(public),
            auth: AuthMode::OAuth,
            tweak: Some(recipe),
            ..Opts::default()
        },
    )
    .await
    .expect("sqlite");
    let (client, _) = test_client(&srv, false).await;
    let (token, _) = mint(&srv, &client, None, READ).await;
    (srv, token)
}

fn upstream(srv: &TestServer) -> String {
    srv.base.trim_start_matches("http://").to_owned()
}

/// A broken variant of the nginx recipe and what doctor must call it.
struct Variant {
    what: &'static str,
    /// The certificate served.
    cert: &'static str,
    edit: fn(String) -> String,
    /// The failing (or warning) check's name, and words of its detail.
    name: &'static str,
    says: &'static str,
    warn: bool,
}

fn broken_variants() -> [Variant; 7] {
    let same: fn(String) -> String = |s| s;
    [
        Variant {
            what: "SSE buffering on",
            cert: "good",
            edit: |s| {
                edit(
                    &s,
                    "proxy_buffering off;",
                    "proxy_buffering on;\n        proxy_ignore_headers X-Accel-Buffering;",
                )
            },
            name: "buffering",
            says: "buffers",
            warn: false,
        },
        Variant {
            what: "/.well-known/ not forwarded",
            cert: "good",
            edit: |s| edit(&s, "location / {", "location /mcp {"),
            name: "well-known",
            says: "404",
            warn: false,
        },
        Variant {
            what: "no X-Forwarded-Proto",
            cert: "good",
            edit: |s| edit(&s, "proxy_set_header X-Forwarded-Proto $scheme;", ""),
            name: "X-Forwarded-Proto",
            says: "does not send X-Forwarded-Proto",
            warn: true,
        },
        Variant {
            what: "self-signed certificate",
            cert: "self-signed",
            edit: same,
            name: "certificate",
            says: "self-signed",
            warn: false,
        },
        Variant {
            what: "expired certificate",
            cert: "expired",
            edit: same,
            name: "certificate",
            says: "expired",
            warn: false,
        },
        Variant {
            what: "certificate expiring within 14 days",
            cert: "expiring",
            edit: same,
            name: "certificate",
            says: "expires on",
            warn: true,
        },
        Variant {
            what: "certificate without its chain",
            cert: "leaf-only",
            edit: same,
            name: "certificate",
            says: "chain incomplete",
            warn: false,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_recipe_passes_and_broken_variants_are_named() {
    if !installed("nginx") {
        return;
    }
    let pki = Pki::new();
    let port = free_port();
    let (srv, token) = connector(port).await;
    let up = upstream(&srv);
    let url = format!("https://{HOST}:{port}/mcp");
    let run = |token: Option<String>, url: String| {
        tokio::task::block_in_place(|| doctor(&pki, &url, token.as_deref()))
    };

    let proxy = nginx(&pki, port, &up, "good", |s| s);
    clean("nginx recipe, no token", &run(None, url.clone()));
    clean(
        "nginx recipe, with a token",
        &run(Some(token.clone()), url.clone()),
    );
    // The same proxy, reached by a name the connector does not serve.
    let wrong = format!("https://{OTHER_HOST}:{port}/mcp");
    diagnosed("wrong public_url", &run(None, wrong), "public_url", false);
    drop(proxy);

    for v in broken_variants() {
        let _proxy = nginx(&pki, port, &up, v.cert, v.edit);
        let report = run(Some(token.clone()), url.clone());
        diagnosed(v.what, &report, v.name, v.warn);
        let detail = with_status(&report.1, if v.warn { "warn" } else { "fail" }).join("\n");
        assert!(detail.contains(v.says), "{}: {detail}", v.what);
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_recipe_passes() {
    if !installed("caddy") {
        return;
    }
    let pki = Pki::new();
    let port = free_port();
    let (srv, token) = connector(port).await;
    let _proxy = caddy(&pki, port, &upstream(&srv), "good");
    let url = format!("https://{HOST}:{port}/mcp");
    let report = tokio::task::block_in_place(|| doctor(&pki, &url, Some(&token)));
    clean("Caddy recipe", &report);
    assert!(
        with_status(&report.1, "pass")
            .iter()
            .any(|c| c.starts_with("buffering:")),
        "the stream was checked: {:#}",
        report.1
    );
    srv.stop().await;
}
