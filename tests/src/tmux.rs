//! `palaver chat`'s terminal UI driven the way a person drives it: the
//! real binary in a tmux pane; `send-keys` types, `capture-pane` reads the
//! screen. Each [`Pane`] has its own tmux server (its own socket, no config
//! file), so tests run in parallel and leave nothing behind.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use crate::WAIT;

/// One tmux server with one 100x30 session: `palaver chat` ([`Pane::start`])
/// or another terminal program ([`Pane::run`], say a real IRC client).
pub struct Pane {
    /// Holds the server's socket.
    dir: tempfile::TempDir,
}

impl Pane {
    /// `palaver chat URL --nick NICK` in a new tmux session; `env` is set
    /// for it (say `NO_COLOR`). It runs in a shell that, once the UI
    /// exits, prints its status and the terminal's line discipline and
    /// stays open, so the test reads what is left. Waits until the UI
    /// shows it is online.
    pub async fn start(url: &str, nick: &str, env: &[(&str, &str)]) -> Pane {
        let script = format!(
            "echo 'the shell before the UI'; {} chat {url} --nick {nick}; \
             echo \"palaver exited with $?\"; \
             echo \"modes: $(stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' ')\"; \
             exec cat",
            crate::binary("palaver").display()
        );
        let pane = Pane::run(&script, env).await;
        pane.until("the UI online", |s| s.contains("· online"))
            .await;
        pane
    }

    /// A shell `script` in a new 100x30 tmux session, with `env` set.
    pub async fn run(script: &str, env: &[(&str, &str)]) -> Pane {
        let pane = Pane {
            dir: tempfile::tempdir().unwrap(),
        };
        let mut args: Vec<String> = ["new-session", "-d", "-x", "100", "-y", "30", "-s", "t"]
            .map(String::from)
            .to_vec();
        for (key, value) in env {
            args.extend(["-e".into(), format!("{key}={value}")]);
        }
        args.extend(["sh".into(), "-c".into(), script.to_owned()]);
        pane.tmux(&args).await;
        pane
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("tmux.sock")
    }

    /// Runs a tmux command on this pane's server; returns its stdout.
    pub async fn tmux<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        let out = tokio::time::timeout(
            WAIT,
            Command::new("tmux")
                .arg("-S")
                .arg(self.socket())
                .args(["-f", "/dev/null"])
                .args(args)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("tmux answers")
        .expect("tmux runs (./x setup --test installs it)");
        assert!(
            out.status.success(),
            "tmux {:?}: {}",
            args.iter()
                .map(|a| a.as_ref().to_owned())
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("tmux prints UTF-8")
    }

    pub async fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"]).await
    }

    /// The screen with its colours and attributes as escape sequences.
    pub async fn screen_with_escapes(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "t"]).await
    }

    /// Types `text` literally.
    pub async fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]).await;
    }

    /// Presses keys by tmux's names (`Enter`, `PageUp`, `C-n`, ...).
    pub async fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend(keys);
        self.tmux(&args).await;
    }

    pub async fn say(&self, text: &str) {
        self.type_text(text).await;
        self.keys(&["Enter"]).await;
    }

    /// A tmux format for the pane (`#{alternate_on}`, ...).
    pub async fn display(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "t", format])
            .await
            .trim()
            .to_owned()
    }

    /// Waits (bounded) until the screen satisfies `ok`; returns it.
    pub async fn until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let screen = self.screen().await;
            if ok(&screen) {
                return screen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the screen never showed {what}:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the screen is no longer `before`.
    pub async fn changed(&self, before: &str) -> String {
        self.until("a change", |s| s != before).await
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .arg("kill-server")
            .output();
    }
}
