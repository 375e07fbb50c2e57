//! Test fixture: a real `cairn devnet` (nodes and gateway as separate
//! processes on 127.0.0.1) and an `aws-sdk-s3` client pointed at it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running devnet; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Devnet {
    pub dir: PathBuf,
    pub child: Child,
    pub info: serde_json::Value,
}

/// A port free now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Devnet {
    /// Starts `cairn devnet` in `dir` with `extra` flags and waits for it.
    /// The S3 port is picked free and then bound by the gateway, so another
    /// process (a node of this or another devnet) can take it in between:
    /// a gateway that exits for that reason is started again on another
    /// port.
    // The child moves into the returned `Devnet`, whose `Drop` reaps it.
    #[allow(clippy::zombie_processes)]
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        let json = dir.join("devnet.json");
        // A restart on the same directory keeps the previous run's
        // devnet.json (the devnet takes its keys from it): wait for the
        // new run's, which names another process.
        let previous = std::fs::read_to_string(&json).ok();
        let log_path = dir.with_extension("devnet.log");
        let mut attempts = 0;
        'start: loop {
            attempts += 1;
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
                .arg("devnet")
                .arg("--dir")
                .arg(dir)
                .args(["--s3", &format!("127.0.0.1:{}", free_port())])
                .args(["--console", "127.0.0.1:0"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                if let Ok(text) = std::fs::read_to_string(&json)
                    && Some(&text) != previous.as_ref()
                    && let Ok(info) = serde_json::from_str::<serde_json::Value>(&text)
                {
                    return Self {
                        dir: dir.to_owned(),
                        child,
                        info,
                    };
                }
                let exited = matches!(child.try_wait(), Ok(Some(_)));
                let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
                if exited && attempts < 5 && log().contains("Address already in use") {
                    continue 'start;
                }
                if exited || Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("devnet did not start: {}", log());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// An S3 client configuration with the devnet's keys and region and
    /// `endpoint`, to adjust (HTTP client, addressing style) and build.
    pub fn config_for(&self, endpoint: &str) -> aws_sdk_s3::config::Builder {
        let creds = aws_sdk_s3::config::Credentials::new(
            self.info["access_key"].as_str().unwrap(),
            self.info["secret_key"].as_str().unwrap(),
            None,
            None,
            "devnet",
        );
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(creds)
    }

    /// The S3 endpoint's port.
    pub fn s3_port(&self) -> u16 {
        let endpoint = self.info["s3_endpoint"].as_str().unwrap();
        endpoint.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The gateway's data directory.
    pub fn gateway_dir(&self) -> PathBuf {
        PathBuf::from(self.info["gateway"]["data_dir"].as_str().unwrap())
    }

    /// An S3 client with the devnet's endpoint and keys.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = self
            .config_for(self.info["s3_endpoint"].as_str().unwrap())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Runs `cairn gateway ARGS --data <the gateway's directory>` (keys
    /// and buckets go through the running gateway's admin endpoint); its
    /// stdout, or its stderr as the error.
    pub fn gateway_cli(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("gateway")
            .args(args)
            .arg("--data")
            .arg(self.gateway_dir())
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A new access key made with `cairn gateway key create`: its id and a
    /// client signing with it.
    pub fn new_key(&self) -> (String, aws_sdk_s3::Client) {
        let made = self.gateway_cli(&["key", "create"]).expect("key create");
        let made: serde_json::Value = serde_json::from_str(&made).unwrap();
        let id = made["access_key"].as_str().unwrap().to_owned();
        let creds = aws_sdk_s3::config::Credentials::new(
            &id,
            made["secret_key"].as_str().unwrap(),
            None,
            None,
            "test",
        );
        let config = self
            .config_for(self.info["s3_endpoint"].as_str().unwrap())
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        (id, aws_sdk_s3::Client::from_conf(config))
    }

    /// `kill -9` node `index`.
    pub fn kill_node(&self, index: usize) {
        self.signal_node(index, "-9");
    }

    /// Sends `signal` (e.g. `-STOP`, `-CONT`) to node `index`.
    pub fn signal_node(&self, index: usize, signal: &str) {
        let pid = self.info["nodes"][index]["pid"].as_u64().unwrap();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Node `index`'s field `name` in devnet.json (e.g. `data_dir`, `addr`,
    /// `region`, `peer_id`).
    pub fn node_field(&self, index: usize, name: &str) -> String {
        self.info["nodes"][index][name].as_str().unwrap().to_owned()
    }

    /// Node `index`'s address (ending in `/p2p/<peer id>`), to bootstrap
    /// more nodes from.
    pub fn bootstrap(&self, index: usize) -> libp2p::Multiaddr {
        self.node_field(index, "addr").parse().unwrap()
    }

    /// The flags a node joining this devnet needs to accept the gateway
    /// by name, as the devnet's own nodes do (and anyone else within the
    /// stranger quotas).
    pub fn accept_flags(&self) -> Vec<String> {
        let gateway = self.info["gateway"]["peer_id"].as_str().unwrap();
        ["--accept", gateway, "--accept", "any"]
            .map(String::from)
            .to_vec()
    }

    /// A node joining this devnet (not started yet): region `region`,
    /// bootstrapping from node `via`, accepting the gateway by name.
    pub fn joining_node(
        &self,
        data: &Path,
        region: &str,
        capacity: &str,
        via: usize,
    ) -> super::NodeProc {
        std::fs::create_dir_all(data).unwrap();
        let mut node = super::NodeProc::new(data, region, capacity, &[self.bootstrap(via)]);
        node.extra = self.accept_flags();
        node
    }

    /// `kill -9` the gateway.
    pub fn kill_gateway(&self) {
        let pid = self.info["gateway"]["pid"].as_u64().unwrap().to_string();
        assert!(
            Command::new("kill")
                .args(["-9", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Starts the devnet's gateway again (after [`Devnet::kill_gateway`])
    /// on the same data, ports and nodes, with `extra` flags, logging to
    /// `log`; killed when the returned handle drops.
    pub fn restart_gateway(&self, extra: &[&str], log: &Path) -> GatewayProc {
        let gw = &self.info["gateway"];
        let s3 = self.info["s3_endpoint"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://");
        let admin = gw["admin"].as_str().unwrap().trim_start_matches("http://");
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("gateway")
            .arg("--data")
            .arg(gw["data_dir"].as_str().unwrap())
            .args(["--s3", s3, "--admin", admin, "--devnet"])
            .args(extra)
            .arg("--bootstrap")
            .arg(self.bootstrap(2).to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        GatewayProc(child, log.to_owned())
    }

    /// `kill -9` the gateway and delete its whole data directory: it is
    /// gone with everything it knew.
    pub fn lose_gateway(&self) {
        self.kill_gateway();
        std::thread::sleep(Duration::from_millis(300));
        std::fs::remove_dir_all(self.gateway_dir()).unwrap();
    }

    /// The gateway's status report (`cairn status --json`).
    pub fn status(&self) -> serde_json::Value {
        self.try_status()
            .unwrap_or_else(|e| panic!("cairn status failed: {e}"))
    }

    /// The status report, or why `cairn status` failed (e.g. the gateway
    /// is restarting).
    pub fn try_status(&self) -> Result<serde_json::Value, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["status", "--json", "--dir"])
            .arg(&self.dir)
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    /// Polls the status until `done` holds for it, or panics after
    /// `within` with the last status and `what`.
    pub fn wait_status(
        &self,
        what: &str,
        within: Duration,
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let status = self.try_status();
            if let Ok(status) = &status
                && done(status)
            {
                return status.clone();
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for {what}; last status: {status:#?}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Where the shards of `bucket/key` are and whether each counts
    /// (`cairn status --json --object`).
    pub fn object_status(&self, bucket: &str, key: &str) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["status", "--json", "--dir"])
            .arg(&self.dir)
            .arg("--object")
            .arg(format!("{bucket}/{key}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cairn status --object failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Polls `bucket/key`'s shard report until `done` holds for it, or
    /// panics after `within` with the last report and `what`.
    pub fn wait_object(
        &self,
        (bucket, key): (&str, &str),
        what: &str,
        within: Duration,
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let object = self.object_status(bucket, key);
            if done(&object) {
                return object;
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for {what}; last report: {object:#}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Waits for a check pass that began after this call: whatever the
    /// status then reports was seen after everything before the call.
    pub fn fresh_status(&self, within: Duration) -> serde_json::Value {
        let now = self.status()["check_passes"].as_u64().unwrap_or(0);
        self.wait_status("a check pass after now", within, |s| {
            s["check_passes"].as_u64().unwrap_or(0) >= now + 2
        })
    }

    /// Index of the devnet node with `peer_id`.
    pub fn node_index(&self, peer_id: &str) -> Option<usize> {
        self.info["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .position(|n| n["peer_id"] == peer_id)
    }

    /// The status entry of the node with `peer_id`.
    pub fn node_status(status: &serde_json::Value, peer_id: &str) -> serde_json::Value {
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["peer_id"] == peer_id)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Show what the gateway saw; CI keeps only the test output.
            let log = std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- gateway.log (last 40 lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole body of `bucket/key`, panicking with `when` and the error if
/// the GET or its body fails.
pub async fn read_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, when: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{when}: get {key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{when}: body of {key}: {e:?}"))
        .to_vec()
}

/// A gateway process started by a test (and its log); killed on drop,
/// its log's tail printed if the test failed.
pub struct GatewayProc(pub Child, pub PathBuf);

impl Drop for GatewayProc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- restarted gateway's log (last 30 lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts an upload of `bucket/key` and stores `parts`; returns its id and
/// the parts to complete it with.
pub async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    parts: &[Vec<u8>],
) -> (String, Vec<aws_sdk_s3::types::CompletedPart>) {
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(aws_sdk_s3::primitives::ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    (id, done)
}

/// Completes upload `id` of `bucket/key` with `done`.
pub async fn complete(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    done: Vec<aws_sdk_s3::types::CompletedPart>,
) -> Result<(), String> {
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// Uploads `parts` as a multipart upload of `bucket/key` and completes it.
pub async fn multipart(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, parts: &[Vec<u8>]) {
    let (id, done) = upload_parts(s3, bucket, key, parts).await;
    complete(s3, bucket, key, &id, done).await.unwrap();
}

/// Stops the devnet whose `cairn devnet` process is `pid` (SIGTERM, then
/// SIGKILL) when the test process exits: a devnet held in a static is
/// never dropped. One per test binary.
pub fn stop_at_exit(pid: u32) {
    use std::sync::atomic::{AtomicI32, Ordering};
    static PID: AtomicI32 = AtomicI32::new(0);
    extern "C" fn stop() {
        let pid = PID.load(Ordering::SeqCst);
        if pid <= 0 {
            return;
        }
        // SAFETY: signals and reaps our own child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            for _ in 0..400 {
                if libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) != 0 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    PID.store(pid as i32, Ordering::SeqCst);
    // SAFETY: registers a plain function with no arguments.
    unsafe {
        libc::atexit(stop);
    }
}

/// A devnet shared by the scenarios of one test binary that do not
/// disturb each other: started on first use in a directory of its own and
/// stopped when the test process exits.
pub fn shared_devnet(extra: &'static [&'static str]) -> &'static Devnet {
    use std::sync::OnceLock;
    static SHARED: OnceLock<(tempfile::TempDir, Devnet)> = OnceLock::new();
    let (_, devnet) = SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let devnet = Devnet::start(&dir.path().join("devnet"), extra);
        stop_at_exit(devnet.child.id());
        (dir, devnet)
    });
    devnet
}
