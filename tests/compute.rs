//! Compute jobs end to end: a real devnet (nodes with compute on), jobs
//! submitted with `cairn job`, modules written as WebAssembly text.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::devnet::{Devnet, multipart, read_object, shared_devnet};
use serde_json::Value;

const WC: &str = include_str!("../examples/wc.wat");

/// The devnet's regions: allowing them allows every node.
const REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-south"];

/// Runs `cairn ARGS --dir <devnet>`; stdout, or stderr as the error.
fn cairn(devnet: &Devnet, args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .arg("--dir")
        .arg(&devnet.dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Lets every devnet node compute on `bucket`.
fn allow_compute(devnet: &Devnet, bucket: &str) {
    let mut args = vec!["bucket", "allow-compute", "--bucket", bucket];
    for region in REGIONS {
        args.extend(["--region", region]);
    }
    devnet.gateway_cli(&args).expect("allow-compute");
}

/// Writes a module's text to a file in `dir`.
fn module_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Submits a job (`extra` flags after the usual ones); its id.
fn submit(devnet: &Devnet, wasm: &Path, input: &str, output: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "job",
        "submit",
        "--wasm",
        wasm.to_str().unwrap(),
        "--input",
        input,
        "--output",
        output,
    ];
    args.extend(extra);
    let out = cairn(devnet, &args).unwrap_or_else(|e| panic!("job submit: {e}"));
    out.trim().to_owned()
}

/// `cairn job status ID --json` (which exits non-zero for a job that
/// failed), or why it gave no answer.
fn try_status(devnet: &Devnet, id: &str) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["job", "status", id, "--json", "--dir"])
        .arg(&devnet.dir)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .map_err(|_| String::from_utf8_lossy(&out.stderr).into_owned())
}

fn status(devnet: &Devnet, id: &str) -> Value {
    try_status(devnet, id).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits for job `id` to end; its final status.
fn wait_job(devnet: &Devnet, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        // The gateway may be restarting: keep asking.
        match try_status(devnet, id) {
            Ok(job) => {
                if matches!(job["state"].as_str(), Some("done" | "failed" | "cancelled")) {
                    return job;
                }
                assert!(Instant::now() < deadline, "job {id} did not end: {job:#}");
            }
            Err(e) => assert!(Instant::now() < deadline, "job {id} did not end: {e}"),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What examples/wc.wat answers for `bytes`.
fn wc(bytes: &[u8]) -> String {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    format!("{lines} {}\n", bytes.len())
}

/// Deterministic text-like bytes with lines of varying length.
fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (state >> 33).is_multiple_of(61) {
                b'\n'
            } else {
                b'a' + ((state >> 40) % 26) as u8
            }
        })
        .collect()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, bytes: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .unwrap();
}

/// A bucket with `inputs` under `in/`, compute allowed on it.
async fn bucket_with(devnet: &Devnet, bucket: &str, inputs: &[(String, Vec<u8>)]) {
    let s3 = devnet.client();
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    for (key, bytes) in inputs {
        put(&s3, bucket, key, bytes.clone()).await;
    }
    allow_compute(devnet, bucket);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_over_a_prefix_gives_what_local_computation_gives() {
    let devnet = shared_devnet(&[]);
    let dir = tempfile::tempdir().unwrap();
    let s3 = devnet.client();
    let sizes = [0usize, 1, 1000, 100 << 10, 1 << 20, 3 << 20, 9 << 20];
    let mut inputs: Vec<(String, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| (format!("in/obj-{i}"), text(len, i as u64)))
        .collect();
    bucket_with(devnet, "wc-data", &inputs).await;
    let parts = [text(5 << 20, 100), text(1 << 20, 101)];
    multipart(&s3, "wc-data", "in/multipart", &parts).await;
    inputs.push(("in/multipart".into(), parts.concat()));

    let wasm = module_file(dir.path(), "wc.wat", WC);
    let id = submit(devnet, &wasm, "s3://wc-data/in/", "s3://wc-data/out/", &[]);
    let job = wait_job(devnet, &id, Duration::from_secs(240));
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["tasks"], 8);
    for (key, bytes) in &inputs {
        let out = read_object(&s3, "wc-data", &format!("out/{key}"), "an output").await;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            wc(bytes),
            "output of {key}"
        );
    }
    for task in job["task_list"].as_array().unwrap() {
        let size = task["size"].as_u64().unwrap();
        if size == 0 {
            continue;
        }
        assert_eq!(
            task["held_data"], true,
            "ran next to a data shard: {task:#}"
        );
        // k = 4: a node holding one shard of each segment fetches at most
        // the other three (each a quarter of the sealed segment).
        let segments = size.div_ceil(8 << 20) + 1;
        let bound = 3 * (size + 16 * segments).div_ceil(4) + 3 * segments;
        let fetched = task["fetched"].as_u64().unwrap();
        assert!(fetched <= bound, "fetched {fetched} of {size}: {task:#}");
        assert!(task["read_local"].as_u64().unwrap() > 0, "{task:#}");
    }
    let totals = &job["totals"];
    assert_eq!(totals["done"], 8);
    let total: u64 = inputs.iter().map(|(_, b)| b.len() as u64).sum();
    assert_eq!(totals["bytes_processed"].as_u64().unwrap(), total);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_modules_fail_with_their_reason_and_the_mesh_goes_on() {
    let devnet = shared_devnet(&[]);
    let dir = tempfile::tempdir().unwrap();
    let inputs = vec![
        ("in/a".to_owned(), text(2000, 1)),
        ("in/b".to_owned(), text(70_000, 2)),
    ];
    bucket_with(devnet, "hostile", &inputs).await;
    let hostile = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("compute/tests/hostile")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    };
    let (spin, bomb, flood, snoop) = (
        hostile("spin.wat"),
        hostile("bomb.wat"),
        hostile("flood.wat"),
        hostile("snoop.wat"),
    );
    let cases: [(&str, String, &[&str], &str); 5] = [
        (
            "fuel",
            spin.clone(),
            &["--fuel", "100000000"],
            "out of fuel",
        ),
        (
            "time",
            spin,
            &["--fuel", "1000000000000", "--timeout", "1s"],
            "timed out",
        ),
        (
            "memory",
            bomb,
            &["--memory", "16MiB"],
            "memory limit reached",
        ),
        (
            "output",
            flood,
            &["--output-limit", "1MiB"],
            "output limit reached",
        ),
        ("files", snoop, &[], "opening files is not allowed"),
    ];
    let mut jobs = Vec::new();
    for (name, text, flags, reason) in &cases {
        let wasm = module_file(dir.path(), &format!("{name}.wat"), text);
        let out = format!("s3://hostile/{name}/");
        jobs.push((
            submit(devnet, &wasm, "s3://hostile/in/", &out, flags),
            *reason,
        ));
    }
    // A well-behaved job beside them finishes.
    let wasm = module_file(dir.path(), "wc.wat", WC);
    let good = submit(devnet, &wasm, "s3://hostile/in/", "s3://hostile/wc/", &[]);
    for (id, reason) in jobs {
        let job = wait_job(devnet, &id, Duration::from_secs(120));
        assert_eq!(job["state"], "failed", "{job:#}");
        for task in job["task_list"].as_array().unwrap() {
            assert_eq!(task["state"], "failed", "{task:#}");
            let failure = task["failure"].as_str().unwrap();
            assert!(
                failure.contains(reason),
                "{failure:?} should say {reason:?}"
            );
        }
        assert!(job["reason"].as_str().unwrap().contains(reason), "{job:#}");
    }
    let job = wait_job(devnet, &good, Duration::from_secs(120));
    assert_eq!(job["state"], "done", "{job:#}");
    let s3 = devnet.client();
    for (key, bytes) in &inputs {
        let out = read_object(&s3, "hostile", &format!("wc/{key}"), "an output").await;
        assert_eq!(String::from_utf8(out).unwrap(), wc(bytes));
        // The nodes still serve shards.
        assert_eq!(&read_object(&s3, "hostile", key, "an input").await, bytes);
    }
    for node in devnet.status()["nodes"].as_array().unwrap() {
        assert_eq!(node["audits_failed"], 0, "{node:#}");
        assert_eq!(node["audits_timed_out"], 0, "{node:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_that_allows_no_compute_node_is_refused_before_any_key_leaves() {
    let devnet = shared_devnet(&[]);
    let dir = tempfile::tempdir().unwrap();
    let s3 = devnet.client();
    s3.create_bucket()
        .bucket("no-compute")
        .send()
        .await
        .unwrap();
    put(&s3, "no-compute", "in/x", b"secret\n".to_vec()).await;
    let wasm = module_file(dir.path(), "wc.wat", WC);
    let args = [
        "job",
        "submit",
        "--wasm",
        wasm.to_str().unwrap(),
        "--input",
        "s3://no-compute/in/",
        "--output",
        "s3://no-compute/out/",
    ];
    let err = cairn(devnet, &args).unwrap_err();
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(err.contains("allows no compute node"), "{err}");
    let jobs: Value =
        serde_json::from_str(&cairn(devnet, &["job", "list", "--json"]).unwrap()).unwrap();
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["spec"]["input_bucket"] != "no-compute"),
        "no job was kept: {jobs:#}"
    );
    // Compute allowed, but not to a key without rights on the bucket.
    allow_compute(devnet, "no-compute");
    let made = devnet.gateway_cli(&["key", "create"]).expect("key create");
    let made: Value = serde_json::from_str(&made).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .args(["--endpoint", devnet.info["s3_endpoint"].as_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", made["access_key"].as_str().unwrap())
        .env(
            "AWS_SECRET_ACCESS_KEY",
            made["secret_key"].as_str().unwrap(),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AccessDenied"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verified_tasks_and_a_reduce_over_their_outputs() {
    let devnet = shared_devnet(&[]);
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("in/{i}"), text(50_000 * (i + 1), 40 + i as u64)))
        .collect();
    bucket_with(devnet, "reduce", &inputs).await;
    let wasm = module_file(dir.path(), "wc.wat", WC);
    let extra = ["--verify", "2", "--reduce", wasm.to_str().unwrap()];
    let id = submit(devnet, &wasm, "s3://reduce/in/", "s3://reduce/out/", &extra);
    let job = wait_job(devnet, &id, Duration::from_secs(180));
    assert_eq!(job["state"], "done", "{job:#}");
    let s3 = devnet.client();
    let mut outputs = Vec::new();
    for (key, bytes) in &inputs {
        let out = read_object(&s3, "reduce", &format!("out/{key}"), "an output").await;
        assert_eq!(String::from_utf8(out.clone()).unwrap(), wc(bytes));
        outputs.extend(out);
    }
    let tasks = job["task_list"].as_array().unwrap();
    for task in &tasks[..3] {
        let nodes = task["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 2, "ran on two nodes: {task:#}");
        assert_ne!(nodes[0], nodes[1]);
    }
    // The reduce counted the outputs, one after the other.
    let reduced = read_object(&s3, "reduce", "out/_reduce", "the reduce output").await;
    assert_eq!(String::from_utf8(reduced).unwrap(), wc(&outputs));
}

/// The module of examples/wc.wat that first spins for a while (about a
/// few seconds), long enough to be caught running.
fn slow_wc() -> String {
    let body = WC.trim_end().strip_suffix(')').unwrap();
    let body = body.replace("(func (export \"_start\")", "(func $wc");
    format!(
        "{body}
  (func (export \"_start\")
    (local $i i64)
    (loop $spin
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $spin (i64.lt_u (local.get $i) (i64.const 3000000000))))
    (call $wc)))"
    )
}

/// Waits until a task of job `id` runs on a node; that node's peer id.
fn running_node(devnet: &Devnet, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = status(devnet, id);
        let running = job["task_list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["state"] == "running")
            .and_then(|t| t["nodes"][0].as_str().map(str::to_owned));
        if let Some(peer) = running {
            return peer;
        }
        assert!(Instant::now() < deadline, "no task started: {job:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_whose_node_is_killed_finishes_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), &[]);
    let input = text(300_000, 7);
    bucket_with(&devnet, "slow", &[("in/one".to_owned(), input.clone())]).await;
    let wasm = module_file(dir.path(), "slow.wat", &slow_wc());
    let flags = ["--fuel", "1000000000000", "--timeout", "120s"];
    let id = submit(&devnet, &wasm, "s3://slow/in/", "s3://slow/out/", &flags);
    let first = running_node(&devnet, &id);
    let index = devnet.node_index(&first).expect("a devnet node");
    devnet.kill_node(index);
    let job = wait_job(&devnet, &id, Duration::from_secs(240));
    assert_eq!(job["state"], "done", "{job:#}");
    let task = &job["task_list"][0];
    assert_ne!(
        task["nodes"][0].as_str().unwrap(),
        first,
        "rescheduled: {task:#}"
    );
    assert_eq!(task["attempts"], 1, "{task:#}");
    let out = read_object(&devnet.client(), "slow", "out/in/one", "the output").await;
    assert_eq!(String::from_utf8(out).unwrap(), wc(&input));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_resumes_after_its_gateway_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), &[]);
    let inputs: Vec<(String, Vec<u8>)> = (0..2)
        .map(|i| (format!("in/{i}"), text(100_000, 70 + i as u64)))
        .collect();
    bucket_with(&devnet, "resume", &inputs).await;
    let wasm = module_file(dir.path(), "slow.wat", &slow_wc());
    let flags = ["--fuel", "1000000000000", "--timeout", "120s"];
    let id = submit(
        &devnet,
        &wasm,
        "s3://resume/in/",
        "s3://resume/out/",
        &flags,
    );
    running_node(&devnet, &id);
    devnet.kill_gateway();
    std::thread::sleep(Duration::from_millis(500));
    let _gateway = devnet.restart_gateway(&[], &dir.path().join("gateway-2.log"));
    let job = wait_job(&devnet, &id, Duration::from_secs(240));
    assert_eq!(job["state"], "done", "{job:#}");
    let s3 = devnet.client();
    for (key, bytes) in &inputs {
        let out = read_object(&s3, "resume", &format!("out/{key}"), "an output").await;
        assert_eq!(String::from_utf8(out).unwrap(), wc(bytes));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn published_content_runs_on_any_compute_node() {
    let devnet = shared_devnet(&[]);
    let dir = tempfile::tempdir().unwrap();
    let s3 = devnet.client();
    // No compute is allowed on either bucket: the input is public.
    for bucket in ["pub-src", "pub-out"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let bytes = text(3 << 20, 99);
    put(&s3, "pub-src", "doc.txt", bytes.clone()).await;
    let cid = cairn(devnet, &["publish", "s3://pub-src/doc.txt"])
        .unwrap_or_else(|e| panic!("publish: {e}"))
        .trim()
        .to_owned();
    let wasm = module_file(dir.path(), "wc.wat", WC);
    let args = [
        "job",
        "submit",
        "--wasm",
        wasm.to_str().unwrap(),
        "--cid",
        &cid,
        "--output",
        "s3://pub-out/res/",
    ];
    let id = cairn(devnet, &args)
        .unwrap_or_else(|e| panic!("submit: {e}"))
        .trim()
        .to_owned();
    let job = wait_job(devnet, &id, Duration::from_secs(120));
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["task_list"][0]["held_data"], true, "{job:#}");
    let out = read_object(&s3, "pub-out", &format!("res/{cid}"), "the output").await;
    assert_eq!(String::from_utf8(out).unwrap(), wc(&bytes));
    // Content this gateway does not keep is refused at once.
    let unknown = "bafkr4ibhtq7bd52knl3yejtezerzc4dfolajxwbnpb6nv7gpbosmkcjzhu";
    let mut args = args;
    args[5] = unknown;
    let err = cairn(devnet, &args).unwrap_err();
    assert!(err.contains("not kept by this gateway"), "{err}");
}
