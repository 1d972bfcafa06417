//! Child server processes: start, wait until ready, measure memory, and kill
//! them however the benchmark ends.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a server may take to answer `/healthz` (first start migrates and
/// seeds the SQLite file).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server process. Dropping it kills the process, so children do
/// not outlive the benchmark on `?` errors or panics.
pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// `mcp-connector serve --config CONFIG --database-url DB_URL` on a free
    /// loopback port, logging to `log`.
    pub(crate) async fn serve_config(
        name: &str,
        bin: &Path,
        config: &Path,
        db_url: &str,
        log: PathBuf,
        client: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let addr = free_loopback_addr()?;
        let argv = [
            "serve".to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
            "--listen".to_owned(),
            addr.to_string(),
            "--database-url".to_owned(),
            db_url.to_owned(),
        ];
        Self::start(name, bin, &argv, addr, log, client)
            .await
            .with_context(|| format!("starting {name}"))
    }

    /// Start `program args…` with stderr going to `log`, then wait for `/healthz`.
    pub(crate) async fn start(
        name: &str,
        program: &Path,
        args: &[String],
        addr: SocketAddr,
        log: PathBuf,
        client: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let stderr = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut server = Self {
            name: name.to_owned(),
            addr,
            child,
            log,
        };
        server.wait_ready(client).await?;
        Ok(server)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let url = format!("{}/healthz", self.base_url());
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} during start-up; {}",
                    self.name,
                    self.log_tail()
                );
            }
            let probe = client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "{} not ready after {READY_TIMEOUT:?}; {}",
            self.name,
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = lines.into_iter().rev().collect();
        format!(
            "last log lines ({}):\n{}",
            self.log.display(),
            tail.join("\n")
        )
    }

    /// The process's resident set size in bytes, if it is still running.
    pub(crate) fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.pid())
    }

    /// The process's CPU time so far.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        cpu_time(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL: nothing a benchmark server holds needs a graceful exit,
        // and it cannot be ignored or delayed by a slow shutdown path.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of `/proc/<pid>/status`, in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on
/// every Linux architecture this runs on).
const USER_HZ: u64 = 100;

/// User plus system CPU time of a process so far (`utime + stime` of
/// `/proc/<pid>/stat`, all its threads), at 10 ms resolution.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// A loopback port that was free a moment ago. The servers are separate
/// processes that take `--listen`, so the port has to be chosen here; the
/// window between closing this socket and the child binding it is tiny.
pub(crate) fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// How many compiler processes (`rustc`, C compilers, linkers) are running,
/// to flag runs disturbed by a concurrent build on the same cores. `cargo`
/// itself is left out: it idles while waiting, and `cargo run` is us.
pub(crate) fn busy_compilers() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .filter(|comm| {
            matches!(
                comm.trim(),
                "rustc" | "cc1" | "cc1plus" | "ld" | "ld.lld" | "mold"
            )
        })
        .count()
}

/// Samples a process's RSS every 100 ms in the background and keeps the peak.
pub(crate) struct RssSampler {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<Option<u64>>,
}

impl RssSampler {
    /// Samples stop after this long even if `finish` is never called.
    const MAX_SAMPLES: u32 = 36_000;

    pub(crate) fn start(pid: u32) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak = rss_bytes(pid);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for _ in 0..Self::MAX_SAMPLES {
                tokio::select! {
                    () = token.cancelled() => break,
                    _ = tick.tick() => peak = peak.max(rss_bytes(pid)),
                }
            }
            peak.max(rss_bytes(pid))
        });
        Self { stop, task }
    }

    /// Stop sampling; the peak RSS in bytes.
    pub(crate) async fn finish(self) -> Option<u64> {
        self.stop.cancel();
        self.task.await.ok().flatten()
    }
}
