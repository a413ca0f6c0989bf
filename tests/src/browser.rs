//! Headless Chromium driven over WebDriver (chromedriver + fantoccini), for
//! the end-to-end tests of the web app.
//!
//! Each [`Browser`] is its own chromedriver process and a fresh Chromium
//! profile, so two browsers are two independent users. Waits poll the page
//! with a bound instead of sleeping a fixed time.

use std::{path::PathBuf, process::Stdio, time::Duration};

use anyhow::{bail, Context};
use fantoccini::{
    elements::Element, wd::WebDriverCompatibleCommand, Client, ClientBuilder, Locator,
};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::{relay::free_port, WAIT};

/// The WebDriver key code of Enter, to end typed text with.
pub const ENTER: &str = "\u{E007}";
/// WebDriver key codes for keyboard tests. A modifier stays down until
/// [`RELEASE`] (or the end of the `send_keys` call).
pub const TAB: &str = "\u{E004}";
pub const BACKSPACE: &str = "\u{E003}";
pub const ESCAPE: &str = "\u{E00C}";
pub const SHIFT: &str = "\u{E008}";
pub const CONTROL: &str = "\u{E009}";
pub const ALT: &str = "\u{E00A}";
pub const PAGE_UP: &str = "\u{E00E}";
pub const PAGE_DOWN: &str = "\u{E00F}";
pub const END: &str = "\u{E010}";
pub const HOME: &str = "\u{E011}";
pub const ARROW_LEFT: &str = "\u{E012}";
pub const ARROW_UP: &str = "\u{E013}";
pub const ARROW_RIGHT: &str = "\u{E014}";
pub const ARROW_DOWN: &str = "\u{E015}";
pub const RELEASE: &str = "\u{E000}";

pub struct Browser {
    pub client: Client,
    /// The chromedriver process, killed on drop.
    _driver: Child,
    /// Chromium's profile, removed on drop.
    _profile: tempfile::TempDir,
}

/// The built web app (trunk's dist/), which `./x test` builds first.
pub fn dist_dir() -> PathBuf {
    let dir = std::env::var_os("PALAVER_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    assert!(
        dir.join("index.html").is_file(),
        "the web app is not built in {}: run `./x web` (or `trunk build --release`) first",
        dir.display()
    );
    dir
}

/// A relay process serving the built app (dist/) with its durable store in
/// `data`, on `port` or a free one. Restarting on the same port and data
/// dir is how the browser tests take a relay away and bring it back.
pub async fn relay_serving_app(
    port: Option<u16>,
    data: &std::path::Path,
) -> anyhow::Result<crate::RelayProcess> {
    let dist = dist_dir();
    let dist = dist.to_str().context("dist path is UTF-8")?;
    let data = data.to_str().context("data path is UTF-8")?;
    let args = ["--static-dir", dist, "--data-dir", data];
    match port {
        Some(port) => crate::RelayProcess::spawn_on(port, &args).await,
        None => crate::RelayProcess::spawn(&args).await,
    }
}

/// A relay process serving the built app with `--store memory` (the store
/// that keeps message events: edits, deletes, reactions) and `extra`
/// flags.
pub async fn relay_serving_app_in_memory(extra: &[&str]) -> anyhow::Result<crate::RelayProcess> {
    let dist = dist_dir();
    let dist = dist.to_str().context("dist path is UTF-8")?;
    let mut args = vec!["--static-dir", dist, "--store", "memory"];
    args.extend_from_slice(extra);
    crate::RelayProcess::spawn(&args).await
}

/// A copy of the built app (dist/) with `config` as its `config.json`, for
/// tests of what that file configures (another origin, token mode).
pub fn dist_with_config(config: &serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    copy_dir(&dist_dir(), dir.path());
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("write config.json");
    dir
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("read dist/") {
        let entry = entry.expect("read dist/");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            std::fs::create_dir_all(&target).expect("copy dist/");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy dist/");
        }
    }
}

/// [`relay_serving_app`] on a free port whose rooms are big above
/// `big_room` members, listing `joined_members` in `joined`, with the
/// per-IP limits off so one machine's test clients can fill them.
pub async fn relay_serving_big_rooms(
    data: &std::path::Path,
    big_room: usize,
    joined_members: usize,
) -> anyhow::Result<crate::RelayProcess> {
    let dist = dist_dir();
    let (big_room, joined_members) = (big_room.to_string(), joined_members.to_string());
    crate::RelayProcess::spawn(&[
        "--static-dir",
        dist.to_str().context("dist path is UTF-8")?,
        "--data-dir",
        data.to_str().context("data path is UTF-8")?,
        "--big-room",
        &big_room,
        "--joined-members",
        &joined_members,
        "--max-conns-per-ip",
        "0",
        "--max-handshakes-per-ip-per-sec",
        "0",
    ])
    .await
}

/// Where screenshots go for review: target/e2e/.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    std::fs::create_dir_all(&dir).expect("create target/e2e");
    dir
}

fn which(program: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .with_context(|| {
            format!("{program} is not installed: apt-get install -y chromium chromium-driver")
        })
}

impl Browser {
    pub async fn start() -> anyhow::Result<Browser> {
        let chromium = which("chromium")?;
        let driver_path = which("chromedriver")?;
        let port = free_port()?;
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start chromedriver")?;
        let profile = tempfile::tempdir()?;
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1200,800".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "goog:chromeOptions": { "binary": chromium, "args": args }
        });
        let caps = match caps {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + WAIT;
        let client = loop {
            let attempt =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await;
            match attempt {
                Ok(client) => break client,
                Err(err) if tokio::time::Instant::now() > deadline => {
                    bail!("chromedriver did not start a session: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        Ok(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// A new browser on the app at `url`, past the nick prompt, with the
    /// composer of a room ready.
    pub async fn open_app(url: &str, nick: &str) -> anyhow::Result<Browser> {
        let browser = Browser::start().await?;
        browser.enter_app(url, nick).await?;
        Ok(browser)
    }

    /// Opens the app at `url` in this browser and answers its nick prompt
    /// with `nick`; returns once a room's composer is ready.
    pub async fn enter_app(&self, url: &str, nick: &str) -> anyhow::Result<()> {
        self.goto(url).await?;
        self.type_into("[data-testid=nick-input]", nick).await?;
        self.click("[data-testid=nick-submit]").await?;
        self.find("[data-testid=composer-input]").await?;
        Ok(())
    }

    /// Waits until the page shows that it lost the relay (the banner says
    /// it is reconnecting).
    pub async fn wait_reconnecting(&self) -> anyhow::Result<()> {
        self.wait_texts(
            "[data-testid=connection-banner]",
            "a reconnecting banner",
            |t| t.iter().any(|t| !t.is_empty()),
        )
        .await
        .map(drop)
    }

    /// Types `text` into the composer and presses Enter.
    pub async fn say(&self, text: &str) -> anyhow::Result<()> {
        self.type_into("[data-testid=composer-input]", &format!("{text}{ENTER}"))
            .await
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await.context("navigate")
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element {css} within {WAIT:?}"))
    }

    /// The visible texts of all elements matching `css`, now.
    pub async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await? {
            out.push(element.text().await.unwrap_or_default());
        }
        Ok(out)
    }

    /// Polls until `check` accepts the texts of `css`; returns them.
    pub async fn wait_texts(
        &self,
        css: &str,
        what: &str,
        check: impl Fn(&[String]) -> bool,
    ) -> anyhow::Result<Vec<String>> {
        self.wait_texts_for(WAIT, css, what, check).await
    }

    /// [`Browser::wait_texts`] with its own bound, for waits that include a
    /// reconnect backoff (up to 30 s by design).
    pub async fn wait_texts_for(
        &self,
        wait: Duration,
        css: &str,
        what: &str,
        check: impl Fn(&[String]) -> bool,
    ) -> anyhow::Result<Vec<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let texts = self.texts(css).await?;
            if check(&texts) {
                return Ok(texts);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("waited {wait:?} for {what} in {css}; last seen: {texts:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until some element matching `css` contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> anyhow::Result<()> {
        self.wait_texts(css, needle, |texts| {
            texts.iter().any(|t| t.contains(needle))
        })
        .await
        .map(drop)
    }

    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        element
            .send_keys(text)
            .await
            .with_context(|| format!("type into {css}"))
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.find(css)
            .await?
            .click()
            .await
            .with_context(|| format!("click {css}"))
    }

    /// Saves a PNG under target/e2e/ for a person to look at.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Runs a Chrome DevTools Protocol command on the page, through
    /// ChromeDriver's `goog/cdp/execute` endpoint.
    pub async fn cdp(
        &self,
        cmd: &str,
        params: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.client
            .issue_cmd(Cdp {
                cmd: cmd.to_string(),
                params,
            })
            .await
            .with_context(|| format!("CDP {cmd}"))
    }

    /// Lays the page out as a screen `width` by `height` CSS pixels (a
    /// phone's touch screen when narrow), through DevTools emulation.
    pub async fn set_viewport(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600
            }),
        )
        .await
        .map(drop)
    }

    /// Makes the page see `prefers-color-scheme: scheme` ("light", "dark").
    pub async fn set_color_scheme(&self, scheme: &str) -> anyhow::Result<()> {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await
        .map(drop)
    }

    /// Presses `keys` (WebDriver key codes) on whatever has focus.
    pub async fn press(&self, keys: &str) -> anyhow::Result<()> {
        self.client
            .active_element()
            .await
            .context("the focused element")?
            .send_keys(keys)
            .await
            .context("press keys")
    }

    /// What has focus, named for assertions: its `data-testid`, else the
    /// nearest named ancestor's with the tag (`room-entry>a`), else its id
    /// or tag; `body` when nothing has focus.
    pub async fn focused(&self) -> anyhow::Result<String> {
        let name = self
            .client
            .execute(
                r##"const el = document.activeElement;
                if (!el || el === document.body) return "body";
                if (el.dataset.testid) return el.dataset.testid;
                const named = el.parentElement && el.parentElement.closest("[data-testid]");
                if (named) return named.dataset.testid + ">" + el.tagName.toLowerCase();
                return el.id ? "#" + el.id : el.tagName.toLowerCase();"##,
                vec![],
            )
            .await
            .context("read the focused element")?;
        Ok(name.as_str().unwrap_or_default().to_string())
    }

    /// Runs axe-core (from the repository's node_modules, `npm ci`) over the
    /// page; the violations it finds, as JSON objects with `id`, `impact`,
    /// `help` and `nodes`.
    pub async fn axe(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("read {} (run `npm ci`)", path.display()))?;
        self.client
            .execute(&source, vec![])
            .await
            .context("inject axe-core")?;
        let out = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ["violations"] })
                  .then((r) => done(JSON.stringify(r.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map((n) => n.target.join(" ") + " :: " + n.failureSummary),
                  })))))
                  .catch((e) => done("error: " + e));"#,
                vec![],
            )
            .await
            .context("run axe-core")?;
        let text = out.as_str().unwrap_or_default();
        serde_json::from_str(text).with_context(|| format!("axe-core answered {text}"))
    }

    /// Runs `script` (which returns a value) until `ok` accepts what it
    /// returns, and returns that; fails the test after [`WAIT`] naming
    /// `what` and the last value.
    pub async fn wait_js(
        &self,
        what: &str,
        script: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        self.wait_js_for(WAIT, what, script, ok).await
    }

    /// [`Browser::wait_js`] for up to `within` (a reconnect's backoff).
    pub async fn wait_js_for(
        &self,
        within: Duration,
        what: &str,
        script: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let value = self.client.execute(script, vec![]).await.unwrap();
            if ok(&value) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {what}; last {value}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs axe-core, prints every violation, saves a screenshot named
    /// `a11y-{case}`, and returns the serious and critical ones (what the
    /// accessibility tests refuse), each labelled with `case`.
    pub async fn serious_violations(&self, case: &str) -> Vec<String> {
        let violations = self.axe().await.unwrap();
        let mut bad = Vec::new();
        for v in &violations {
            let impact = v["impact"].as_str().unwrap_or("?");
            eprintln!(
                "axe {case}: {impact} {} ({}): {}",
                v["id"], v["help"], v["nodes"]
            );
            if matches!(impact, "serious" | "critical") {
                bad.push(format!(
                    "{case}: {impact} {} {}: {}",
                    v["id"], v["help"], v["nodes"]
                ));
            }
        }
        self.screenshot(&format!("a11y-{case}")).await.unwrap();
        bad
    }

    /// Chromium's own DevTools socket (events, other targets), beside
    /// chromedriver's commands.
    pub async fn devtools(&self) -> anyhow::Result<crate::devtools::DevTools> {
        crate::devtools::DevTools::open(self._profile.path()).await
    }

    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await.context("close the browser")
    }
}

#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: serde_json::Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}
