//! Token mode for `palaver chat`: where a fresh connection token comes from.
//!
//! `--token-cmd "CMD"` names a shell command that prints a signed token on
//! stdout (a login helper, `cat` of a file a cron job rewrites, ...). The
//! driver runs it before each connection, for `hello.token`, and when the
//! relay says the token is about to expire (`token_expiring`), to send the
//! answer in `reauth`, so a session outlives each token. When to run it
//! again after a failure is [`shared::client::Renewal`]'s to say, as in the
//! web app.

use std::time::Duration;

use anyhow::{bail, Context};

/// How long the command may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `command` with `sh -c` and returns its trimmed stdout.
pub async fn fetch(command: &str) -> anyhow::Result<String> {
    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(TIMEOUT, run)
        .await
        .with_context(|| format!("--token-cmd took over {TIMEOUT:?}"))?
        .context("cannot run --token-cmd")?;
    if !output.status.success() {
        bail!(
            "--token-cmd failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let token = String::from_utf8(output.stdout).context("--token-cmd printed non-UTF-8")?;
    let token = token.trim();
    if token.is_empty() {
        bail!("--token-cmd printed nothing");
    }
    Ok(token.to_string())
}
