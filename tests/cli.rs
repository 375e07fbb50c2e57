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
