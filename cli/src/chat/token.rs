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
use shared::{client::Renewal, ClientMsg};

use super::now_ms;

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

/// `--token-cmd` and when to run it again: what each chat UI (the line
/// mode and the full-screen one) keeps, so both renew alike.
#[derive(Default)]
pub struct TokenSource {
    command: Option<String>,
    /// When to run the command again for `reauth` (the shared policy);
    /// the UI tells it of `token_expiring` and of a lost connection.
    pub renewal: Renewal,
}

impl TokenSource {
    pub fn new(command: Option<String>) -> TokenSource {
        TokenSource {
            command,
            renewal: Renewal::default(),
        }
    }

    /// Whether a token comes from `--token-cmd` (token mode).
    pub fn is_set(&self) -> bool {
        self.command.is_some()
    }

    /// A fresh token from the command; `None` without one.
    pub async fn fresh(&self) -> anyhow::Result<Option<String>> {
        match &self.command {
            Some(command) => fetch(command).await.map(Some),
            None => Ok(None),
        }
    }

    /// A token to send in `reauth`, if the renewal policy says now (at once
    /// when warned, again while it fails, until the token expires).
    pub async fn due(&mut self) -> anyhow::Result<Option<String>> {
        if self.command.is_none() || !self.renewal.poll(now_ms()) {
            return Ok(None);
        }
        let token = self.fresh().await;
        self.renewal.fetched(token.is_ok(), now_ms());
        token
    }
}

/// Puts `token` in the `hello` among a connection's first frames.
pub fn stamp_hello(frames: &mut [ClientMsg], fresh: &str) {
    for frame in frames {
        if let ClientMsg::Hello { token, .. } = frame {
            *token = Some(fresh.to_owned());
        }
    }
}
