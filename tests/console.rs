//! The web console in a real headless Chromium against a real devnet:
//! signing in, buckets and objects (a 20 MiB upload through the page,
//! downloaded back byte-identical), what a key without rights sees, bad
//! input, a killed node seen dead and repaired, and every page at desktop
//! and phone width (screenshots under `<target>/tmp/console-screenshots`).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::browser::Browser;
use common::devnet::{Devnet, shared_devnet};

fn console_url(devnet: &Devnet) -> String {
    devnet.info["console"]
        .as_str()
        .expect("devnet.json names the console")
        .to_owned()
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// Signs `browser` in with `key` and `secret`.
async fn sign_in(browser: &Browser, url: &str, key: &str, secret: &str) {
    browser.open(&format!("{url}/login")).await;
    browser.fill("#access_key", key).await;
    browser.fill("#secret_key", secret).await;
    browser.click("#sign-in").await;
}

/// Signs in with the devnet's key (it has the admin right) and waits for
/// the overview.
async fn sign_in_as_devnet(browser: &Browser, devnet: &Devnet) -> String {
    let url = console_url(devnet);
    let key = devnet.info["access_key"].as_str().unwrap();
    let secret = devnet.info["secret_key"].as_str().unwrap();
    sign_in(browser, &url, key, secret).await;
    browser.wait_for("#overview").await;
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn a_20_mib_file_goes_up_through_the_page_and_comes_back_identical() {
    let devnet = shared_devnet(&[]);
    let dir = tempfile::tempdir().unwrap();
    let browser = Browser::start(&dir.path().join("downloads"), 1280, 900).await;
    let url = sign_in_as_devnet(&browser, devnet).await;

    // Create a bucket with the form.
    browser.open(&format!("{url}/buckets")).await;
    browser.fill("#bucket-name", "photos").await;
    browser.click("#create-bucket button").await;
    browser.wait_for("#upload-files").await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/b/photos")
    );

    // Upload 20 MiB (a multipart upload, the page's script) with progress.
    let file = dir.path().join("holiday.bin");
    let data = common::bytes(20 << 20, 7);
    std::fs::write(&file, &data).unwrap();
    let input = browser.wait_for("#upload-files").await;
    input.send_keys(file.to_str().unwrap()).await.unwrap();
    browser
        .until(
            Duration::from_secs(120),
            "the upload to be listed",
            || async { browser.has(r#"tr[data-key="holiday.bin"]"#).await },
        )
        .await;
    let row = browser.text(r#"tr[data-key="holiday.bin"]"#).await;
    assert!(row.contains("20 MiB"), "{row}");

    // Its page: size, shards on nodes in regions.
    browser.click(r#"tr[data-key="holiday.bin"] a"#).await;
    browser.wait_for("#download").await;
    let page = browser.text("main").await;
    assert!(page.contains("20971520 bytes"), "{page}");
    assert!(page.contains("6 of 6 shards healthy"), "{page}");
    for region in ["us-east", "eu-west", "ap-south"] {
        assert!(page.contains(region), "no shard in {region}: {page}");
    }

    // Download it through the page.
    browser.click("#download").await;
    let downloaded = browser.downloads.join("holiday.bin");
    browser
        .until(Duration::from_secs(60), "the download", || async {
            std::fs::metadata(&downloaded).is_ok_and(|m| m.len() == data.len() as u64)
        })
        .await;
    assert!(
        std::fs::read(&downloaded).unwrap() == data,
        "downloaded bytes differ"
    );

    // A share link works for anyone, without the console.
    browser.click("#share").await;
    browser
        .until(Duration::from_secs(10), "the share link", || async {
            browser
                .eval("return document.getElementById('share-url').value;")
                .await
                .as_str()
                .is_some_and(|v| v.starts_with("http"))
        })
        .await;
    let link = browser
        .eval("return document.getElementById('share-url').value;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let shared = presigned_get(&link).await;
    assert!(shared == data, "the share link gave other bytes");

    // Delete it (the page asks first).
    browser.open(&format!("{url}/b/photos")).await;
    browser
        .click(r#"tr[data-key="holiday.bin"] button.danger"#)
        .await;
    browser.client.accept_alert().await.unwrap();
    browser.wait_for(".msg.ok").await;
    assert!(!browser.has(r#"tr[data-key="holiday.bin"]"#).await);
    let gone = devnet
        .client()
        .head_object()
        .bucket("photos")
        .key("holiday.bin")
        .send()
        .await;
    assert!(gone.is_err(), "the object is still there");
    browser.stop().await;
}

/// GETs a presigned URL with the S3 SDK's HTTP stack left out: a plain
/// request, as a browser or curl would send it.
async fn presigned_get(link: &str) -> Vec<u8> {
    let rest = link.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let head = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let host = host.to_owned();
    let response = tokio::task::spawn_blocking(move || {
        common::raw_http::exchange(&host, head.as_bytes(), b"")
    })
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    response.dechunked().body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_and_bad_input_are_refused_with_a_clear_message() {
    let devnet = shared_devnet(&[]);
    let dir = tempfile::tempdir().unwrap();
    let browser = Browser::start(&dir.path().join("downloads"), 1280, 900).await;
    let url = console_url(devnet);
    let key = devnet.info["access_key"].as_str().unwrap();

    sign_in(&browser, &url, key, "not-the-secret").await;
    let error = browser.text("#login-error").await;
    assert_eq!(error, "Wrong access key or secret.");
    sign_in(&browser, &url, "CANOSUCHKEY000000000", "x").await;
    assert_eq!(
        browser.text("#login-error").await,
        "Wrong access key or secret."
    );
    // Not signed in: pages send to the sign-in form.
    browser
        .client
        .goto(&format!("{url}/buckets"))
        .await
        .unwrap();
    browser.wait_for("#sign-in").await;

    sign_in_as_devnet(&browser, devnet).await;
    browser.open(&format!("{url}/buckets")).await;
    browser.fill("#bucket-name", "Bad_Name").await;
    browser.click("#create-bucket button").await;
    let error = browser.text(".msg.err").await;
    assert!(error.contains("lowercase letters"), "{error}");

    // A change without the session's token (another site's form) is
    // refused, even with the session cookie.
    let status = browser
        .eval(
            "return fetch('/buckets', {method: 'POST', body: new URLSearchParams({name: 'sneaky'})})\
             .then(r => r.status);",
        )
        .await;
    assert_eq!(status, 403);
    let call = browser
        .eval("return fetch('/api/b/x/share?key=y', {method: 'POST'}).then(r => r.status);")
        .await;
    assert_eq!(call, 403);
    assert!(
        devnet
            .client()
            .head_bucket()
            .bucket("sneaky")
            .send()
            .await
            .is_err(),
        "a bucket was made without the token"
    );
    // A share link longer than AWS allows is refused.
    let answer = browser
        .eval(&format!(
            "return fetch('/api/b/x/share?key=y&hours=500', {{method: 'POST', headers: {{'x-csrf-token': '{}'}}}}).then(r => r.json());",
            browser.eval("return document.body.dataset.csrf;").await.as_str().unwrap()
        ))
        .await;
    assert!(
        answer["error"].as_str().unwrap().contains("168 hours"),
        "{answer}"
    );
    browser.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_without_rights_sees_no_other_bucket_and_no_keys_page() {
    let devnet = shared_devnet(&[]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("ledger").send().await.unwrap();
    s3.put_object()
        .bucket("ledger")
        .key("q3.csv")
        .body(b"secret figures".to_vec().into())
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let browser = Browser::start(&dir.path().join("downloads"), 1280, 900).await;
    let url = sign_in_as_devnet(&browser, devnet).await;

    // The admin makes a key on the keys page; its secret is shown once.
    browser.open(&format!("{url}/keys")).await;
    browser.fill("#create-key input[name=name]", "intern").await;
    browser.click("#create-key button").await;
    let key = browser.text("#new-access-key").await;
    let secret = browser.text("#new-secret-key").await;
    assert_eq!(secret.len(), 40, "{secret}");

    browser.click(".signout button").await;
    browser.wait_for("#sign-in").await;
    sign_in(&browser, &url, &key, &secret).await;
    browser.wait_for("#overview").await;
    assert!(!browser.has(r#"nav a[href="/keys"]"#).await);
    browser.open(&format!("{url}/buckets")).await;
    let listed = browser.text("#bucket-table").await;
    assert!(!listed.contains("ledger"), "{listed}");
    browser.open(&format!("{url}/b/ledger")).await;
    let page = browser.text("main").await;
    assert!(
        page.contains("AccessDenied") || page.contains("Access Denied"),
        "{page}"
    );
    assert!(!page.contains("q3.csv"), "{page}");
    browser
        .client
        .goto(&format!("{url}/b/ledger/download?key=q3.csv"))
        .await
        .unwrap();
    let page = browser.text("body").await;
    assert!(!page.contains("secret figures"), "{page}");
    browser.open(&format!("{url}/keys")).await;
    assert!(
        browser
            .text("main")
            .await
            .contains("Only keys with the admin right")
    );
    browser.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_keys_forms_refuse_bad_input_with_a_clear_message() {
    let devnet = shared_devnet(&[]);
    devnet
        .client()
        .create_bucket()
        .bucket("grant-target")
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let browser = Browser::start(&dir.path().join("downloads"), 1280, 900).await;
    let url = sign_in_as_devnet(&browser, devnet).await;
    let me = devnet.info["access_key"].as_str().unwrap();

    // A name longer than a key name may be (past the field's own limit).
    browser.open(&format!("{url}/keys")).await;
    browser
        .eval("document.querySelector('#create-key input[name=name]').removeAttribute('maxlength'); return 0;")
        .await;
    browser
        .fill("#create-key input[name=name]", &"n".repeat(200))
        .await;
    browser.click("#create-key button").await;
    let error = browser.text(".msg.err").await;
    assert!(error.contains("1 to 128 characters"), "{error}");
    assert!(!browser.has("#new-access-key").await);

    // A grant with a key and a bucket but no right. (Each time the last
    // message is taken off the page first, so that the one read is the
    // next page's.)
    browser
        .eval(&format!(
            "document.querySelector('#grant select[name=key]').value = '{me}';\
             document.querySelector('#grant select[name=bucket]').value = 'grant-target';\
             document.querySelector('.msg.err').remove(); return 0;"
        ))
        .await;
    browser.click("#grant button[type=submit]").await;
    assert_eq!(
        browser.text(".msg.err").await,
        "Choose read, write or owner."
    );

    // The key in use cannot delete itself.
    browser
        .eval("document.querySelector('.msg.err').remove(); return 0;")
        .await;
    browser
        .click(&format!(
            r#"tr[data-key="{me}"] form[action="/keys/delete"] button"#
        ))
        .await;
    browser.client.accept_alert().await.unwrap();
    assert_eq!(
        browser.text(".msg.err").await,
        "You cannot delete the key you are signed in with."
    );
    browser.stop().await;
}

/// Every page, at desktop and phone width: saved as screenshots, and
/// never wider than a 390 px screen.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_is_readable_on_a_desktop_and_a_phone() {
    let devnet = shared_devnet(&[]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("gallery").send().await.unwrap();
    s3.put_object()
        .bucket("gallery")
        .key("2026/summer/a-rather-long-file-name-for-a-small-phone-screen.jpg")
        .body(common::bytes(300_000, 1).into())
        .send()
        .await
        .unwrap();
    let status = devnet.status();
    let peer = status["nodes"][0]["peer_id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    for (device, width, height) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let browser = Browser::start(&dir.path().join(device), width, height).await;
        let url = console_url(devnet);
        browser.open(&format!("{url}/login")).await;
        let mut shots = vec![
            browser
                .screenshot(&screenshots(), &format!("login-{device}"))
                .await,
        ];
        sign_in_as_devnet(&browser, devnet).await;
        let inner = browser.eval("return window.innerWidth;").await;
        assert!(inner.as_u64().unwrap() <= width as u64, "{inner}");
        let pages = [
            ("overview", "/".to_owned()),
            ("nodes", "/nodes".to_owned()),
            ("node", format!("/nodes/{peer}")),
            ("buckets", "/buckets".to_owned()),
            ("bucket", "/b/gallery?prefix=2026%2Fsummer%2F".to_owned()),
            (
                "object",
                "/b/gallery/object?key=2026%2Fsummer%2Fa-rather-long-file-name-for-a-small-phone-screen.jpg"
                    .to_owned(),
            ),
            ("keys", "/keys".to_owned()),
            ("pins", "/pins".to_owned()),
            ("jobs", "/jobs".to_owned()),
        ];
        for (name, path) in pages {
            browser.open(&format!("{url}{path}")).await;
            assert!(
                !browser.text("main").await.contains("could not be drawn"),
                "{name} failed to render"
            );
            shots.push(
                browser
                    .screenshot(&screenshots(), &format!("{name}-{device}"))
                    .await,
            );
            assert!(
                !browser.scrolls_sideways().await,
                "{name} scrolls sideways at {width} px"
            );
            let broken = browser.words_broken_across_lines().await;
            assert!(
                broken.is_empty(),
                "{name} at {width} px splits words over lines: {broken:?}"
            );
        }
        for shot in shots {
            assert!(
                std::fs::metadata(&shot).unwrap().len() > 1000,
                "{}",
                shot.display()
            );
        }
        browser.stop().await;
    }
}

/// Kill -9 a node: the nodes page shows it dead, the overview shows the
/// repair, then every segment back at full health. A devnet of its own
/// (the others must not lose a node).
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_node_shows_dead_and_the_overview_follows_the_repair() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), &["--nodes", "7"]);
    let s3 = devnet.client();
    s3.create_bucket().bucket("keep").send().await.unwrap();
    for i in 0..4 {
        s3.put_object()
            .bucket("keep")
            .key(format!("o{i}"))
            .body(common::bytes(100_000, i).into())
            .send()
            .await
            .unwrap();
    }
    let browser = Browser::start(&dir.path().join("downloads"), 1280, 900).await;
    let url = sign_in_as_devnet(&browser, &devnet).await;
    // Every node known and alive, with shards.
    browser.open(&format!("{url}/nodes")).await;
    let victim = devnet.info["nodes"][1]["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let state = format!(r#"tr[data-peer="{victim}"] .state"#);
    browser
        .until(
            Duration::from_secs(30),
            "the node alive on the page",
            || async { browser.has(&state).await && browser.text(&state).await == "alive" },
        )
        .await;

    devnet.kill_node(1);
    browser
        .until(Duration::from_secs(60), "the node shown dead", || async {
            browser.text(&state).await == "dead"
        })
        .await;
    assert!(
        browser
            .has(&format!(r#".mesh a.dot.dead[title^="{victim}"]"#))
            .await
    );
    browser
        .screenshot(&screenshots(), "nodes-with-a-dead-node")
        .await;

    // The overview: repair, then every segment full again.
    browser.open(&format!("{url}/")).await;
    let count = |id: &'static str| {
        let browser = &browser;
        async move {
            browser
                .text(&format!("#{id}"))
                .await
                .trim()
                .parse::<u64>()
                .unwrap()
        }
    };
    // The page shows the repair under way (segments degraded or queued)
    // before every segment is full again.
    let saw_repair = std::sync::atomic::AtomicBool::new(false);
    browser
        .until(
            Duration::from_secs(120),
            "every segment back at full health",
            || {
                let saw_repair = &saw_repair;
                let count = &count;
                async move {
                    let (full, degraded, queued, lost) = (
                        count("seg-full").await,
                        count("seg-degraded").await,
                        count("seg-queued").await,
                        count("seg-lost").await,
                    );
                    if degraded + queued + count("repair-queue").await > 0 {
                        saw_repair.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    full == 4 && degraded == 0 && queued == 0 && lost == 0
                }
            },
        )
        .await;
    assert!(
        saw_repair.into_inner(),
        "the overview never showed the repair"
    );
    browser
        .screenshot(&screenshots(), "overview-after-repair")
        .await;
    for i in 0..4 {
        let got = s3
            .get_object()
            .bucket("keep")
            .key(format!("o{i}"))
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert!(got == common::bytes(100_000, i), "o{i} differs");
    }
    browser.stop().await;
}
