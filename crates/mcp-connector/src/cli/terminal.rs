//! Reading a secret from the terminal without echo.

use anyhow::Context as _;
use mcp_connector_security::SecretString;

/// Print `prompt` on standard error and read one line from the terminal on
/// standard input with echo off (restored afterwards, also on error).
#[cfg(unix)]
pub(super) fn read_hidden(prompt: &str) -> anyhow::Result<SecretString> {
    use std::io::{BufRead as _, Write as _};
    use std::os::fd::AsFd as _;

    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let saved = tcgetattr(fd).context("reading the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    // The Enter key still moves to the next line.
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(fd, OptionalActions::Flush, &quiet).context("turning echo off")?;
    /// Restores the terminal however this function returns.
    struct Restore<'a>(std::os::fd::BorrowedFd<'a>, rustix::termios::Termios);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = tcsetattr(self.0, OptionalActions::Now, &self.1);
        }
    }
    let _restore = Restore(fd, saved);
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    Ok(SecretString::new(line.trim_end_matches(['\r', '\n'])))
}

#[cfg(not(unix))]
pub(super) fn read_hidden(_prompt: &str) -> anyhow::Result<SecretString> {
    anyhow::bail!("no hidden terminal input on this platform: use --password-stdin")
}
