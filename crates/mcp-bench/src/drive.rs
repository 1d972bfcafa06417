//! `mcp-bench drive`: a fixed number of `tools/call`s, one after another on
//! one keep-alive connection, against a server that is already running. It
//! is the load of a profile (`valgrind --tool=callgrind` on the server, with
//! `callgrind_control --zero` before and `--dump` after), where a count of
//! calls matters and a rate does not.

use anyhow::bail;

use crate::load::{self, Limit, Workload};

/// Options of the `drive` verb.
#[derive(Debug, clap::Args)]
pub(crate) struct DriveArgs {
    /// The server's base URL (`http://127.0.0.1:PORT`).
    #[arg(long)]
    url: String,
    /// Calls to send.
    #[arg(long, default_value_t = 1000)]
    calls: u64,
    /// Sent as `Authorization` on every request (`Bearer …`).
    #[arg(long)]
    authorization: Option<String>,
    /// Call inside one session (initialize first, DELETE after).
    #[arg(long)]
    sessions: bool,
}

pub(crate) async fn run(args: &DriveArgs) -> anyhow::Result<()> {
    let clients = load::pinned(1, args.authorization.as_deref(), true)?;
    let workload = if args.sessions {
        Workload::SessionCall
    } else {
        Workload::StatelessCall
    };
    let stats = load::run_on(
        &clients,
        &args.url,
        workload,
        1,
        Limit::Iterations(args.calls),
    )
    .await;
    eprintln!(
        "{} calls ok, {} errors, {:.0}/s",
        stats.ok,
        stats.errors,
        stats.rate()
    );
    if let Some(e) = stats.first_error {
        bail!("first error: {e}");
    }
    Ok(())
}
