//! The `cairn` binary's own tools, run as a real process.

use std::process::Command;

fn cairn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
}

#[test]
fn shard_id_prints_the_blake3_hash_and_checks_expectations() {
    let dir = std::env::temp_dir().join(format!("cairn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let expected = blake3::hash(&bytes).to_hex().to_string();

    let out = cairn().arg("shard-id").arg(&path).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, format!("{expected}  {}\n", path.display()));

    let ok = cairn()
        .args(["shard-id", "--expect", &expected])
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success());

    let wrong = blake3::hash(b"other").to_hex().to_string();
    let out = cairn()
        .args(["shard-id", "--expect", &wrong])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match"));

    let missing = cairn()
        .args(["shard-id"])
        .arg(dir.join("missing"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("opening"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The figures of a `cairn simulate --json` run that depend only on the
/// seed (not the wall clock).
fn seeded_figures(report: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "analytic": report["analytic"],
        "queue": report["queue"],
        "plain": report["monte_carlo"]["run"],
        "importance": report["importance_sampling"]["run"],
        "traffic": report["repair_bytes_per_node_per_day"],
    })
}

#[test]
fn simulate_reports_durability_reproducibly() {
    let run = |seed: &str, threads: &str| {
        let out = cairn()
            .args([
                "simulate",
                "--nodes",
                "100",
                "--segments",
                "2000",
                "--importance-segments",
                "3000",
                "--seed",
                seed,
                "--threads",
                threads,
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let a = run("5", "1");
    // Cairn's production settings, 4+2: the analytic tail and the
    // importance-sampled Monte Carlo both land near 7.8 nines per segment.
    let analytic = a["analytic_durability"]["segment_nines"].as_f64().unwrap();
    let sampled = a["importance_sampling"]["durability"]["segment_nines"]
        .as_f64()
        .unwrap();
    assert!((7.0..8.5).contains(&analytic), "{analytic}");
    assert!((sampled - analytic).abs() < 0.3, "{sampled} vs {analytic}");
    assert_eq!(a["config"]["k"], 4);
    assert_eq!(a["repair_threshold"], 5);
    let object = a["analytic_durability"]["object_nines"].as_f64().unwrap();
    assert!(
        object < analytic,
        "an object of 16 segments is likelier to lose one"
    );
    for key in ["backblaze", "storj"] {
        assert!(a["cross_checks"][key]["segment_nines"].as_f64().unwrap() > 0.0);
    }
    // Same seed, any thread count: the same figures; another seed differs.
    assert_eq!(seeded_figures(&a), seeded_figures(&run("5", "2")));
    assert_ne!(seeded_figures(&a), seeded_figures(&run("6", "2")));

    // The text report, and flags overriding the preset.
    let out = cairn()
        .args([
            "simulate",
            "--preset",
            "devnet",
            "--m",
            "3",
            "--nodes",
            "9",
            "--monthly-churn",
            "5%",
            "--dead-after",
            "1m",
            "--segments",
            "1000",
            "--importance-segments",
            "1000",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Cairn durability: 4+3, repaired at <= 6 held shards",
        "9 nodes in 3 regions",
        "5.00 % of nodes lost per month",
        "dead after 1.0 min",
        "analytic (renewal over repair windows)",
        "Monte Carlo, importance sampled",
        "Backblaze binomial",
        "Storj Poisson bound",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    // Refusals are errors with a reason.
    let out = cairn().args(["simulate", "--nodes", "5"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot hold 6 shards"));
}
