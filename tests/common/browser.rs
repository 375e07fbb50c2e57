//! A real headless Chromium, driven over WebDriver (Debian's
//! `chromium-driver`) with fantoccini.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Where downloads land.
    pub downloads: PathBuf,
}

/// The chromedriver binary (Debian puts it in /usr/bin).
fn chromedriver() -> PathBuf {
    for candidate in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!("chromedriver not found: scripts/test.sh installs Debian's chromium-driver");
}

impl Browser {
    /// Starts chromedriver and a headless Chromium `width`×`height`,
    /// downloading into `downloads`.
    pub async fn start(downloads: &Path, width: u32, height: u32) -> Self {
        std::fs::create_dir_all(downloads).unwrap();
        let port = super::devnet::free_port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    format!("--window-size={width},{height}"),
                ],
                "prefs": {
                    "download.default_directory": downloads.to_str().unwrap(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        // Chromium keeps windows at least 500 px wide: narrower screens
        // are emulated, as its device mode does.
        if width < 500 {
            caps["goog:chromeOptions"]["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 },
            });
        }
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a WebDriver session");
        Self {
            client,
            driver,
            downloads: downloads.to_owned(),
        }
    }

    /// Opens `url` and waits for its `<main>`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.wait_for("main").await;
    }

    /// The first element matching `css`, waiting up to 20 s for it.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    /// Whether an element matches `css` now.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The text of the first element matching `css` (waiting for it). A
    /// live part of the page may be redrawn between finding the element
    /// and reading it: then it is found again.
    pub async fn text(&self, css: &str) -> String {
        for _ in 0..20 {
            if let Ok(text) = self.wait_for(css).await.text().await {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} kept being redrawn");
    }

    /// Types `text` into the field matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap();
    }

    /// Runs `script` in the page and returns its value.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Polls `check` every 500 ms until it returns true, for up to
    /// `within`; `what` names the wait in the failure.
    pub async fn until<F, Fut>(&self, within: Duration, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + within;
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Saves a screenshot of the window as `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Whether the page is wider than the window (it scrolls sideways).
    pub async fn scrolls_sideways(&self) -> bool {
        self.eval("return document.documentElement.scrollWidth > window.innerWidth;")
            .await
            .as_bool()
            .unwrap()
    }

    /// Short words (up to 24 characters, such as menu entries, labels and
    /// figures) that the layout split over two lines: a page squeezed
    /// too narrow reads one letter per line without scrolling sideways.
    pub async fn words_broken_across_lines(&self) -> Vec<String> {
        let found = self
            .eval(
                "const broken = [];
                 const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                 while (walk.nextNode()) {
                   const text = walk.currentNode.textContent.trim();
                   if (!text || text.length > 24 || /\\s/.test(text)) continue;
                   const range = document.createRange();
                   range.selectNodeContents(walk.currentNode);
                   const tops = new Set([...range.getClientRects()]
                     .filter(r => r.width > 0).map(r => Math.round(r.top)));
                   if (tops.size > 1) broken.push(text);
                 }
                 return broken;",
            )
            .await;
        serde_json::from_value(found).unwrap()
    }

    /// Ends the session and the driver.
    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
