//! The runtime against real modules (WebAssembly text assembled here): what
//! a task produces, and how each limit ends a hostile one.

use std::sync::Arc;
use std::time::Duration;

use compute::{Failure, Limits, Outcome, Runtime, RuntimeError, assemble};

const WC: &str = include_str!("../../examples/wc.wat");

// Hostile modules, shared with the end-to-end tests (tests/compute.rs).
const SPIN: &str = include_str!("hostile/spin.wat");
const BOMB: &str = include_str!("hostile/bomb.wat");
const FLOOD: &str = include_str!("hostile/flood.wat");
const SNOOP: &str = include_str!("hostile/snoop.wat");

const IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
"#;

fn module(body: &str) -> Vec<u8> {
    assemble(format!("(module {IMPORTS} (memory (export \"memory\") 1) {body})").as_bytes())
        .expect("valid text")
}

async fn run(runtime: &Arc<Runtime>, wasm: &[u8], input: &[u8], limits: Limits) -> Outcome {
    let hash = runtime.load(wasm).expect("the module compiles");
    runtime
        .run(hash, vec![], std::io::Cursor::new(input.to_vec()), limits)
        .await
        .expect("the task ran")
}

fn limits() -> Limits {
    Limits {
        fuel: 50_000_000,
        memory: 4 << 20,
        timeout_ms: 10_000,
        output: 1 << 20,
        log: 4 << 10,
    }
}

#[tokio::test]
async fn wc_counts_lines_and_bytes_of_its_input() {
    let runtime = Runtime::new(2).unwrap();
    let wasm = assemble(WC.as_bytes()).unwrap();
    // Newlines next to each other, at every offset in a word, and none.
    let input: Vec<u8> = (0..200_003u32)
        .map(|i| {
            if i % 97 == 0 || i % 1000 < 9 {
                b'\n'
            } else {
                (i % 251) as u8 | 0x80
            }
        })
        .collect();
    let lines = input.iter().filter(|&&b| b == b'\n').count();
    let out = run(&runtime, &wasm, &input, limits()).await;
    assert_eq!(out.failure, None);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{lines} 200003\n")
    );
    assert!(
        out.fuel_used > 200_000,
        "fuel is counted: {}",
        out.fuel_used
    );
    let empty = run(&runtime, &wasm, b"", limits()).await;
    assert_eq!(empty.stdout, b"0 0\n");
}

#[tokio::test]
async fn grep_prints_the_lines_holding_its_string() {
    let runtime = Runtime::new(1).unwrap();
    let wasm = assemble(include_bytes!("../../examples/grep.wat")).unwrap();
    let hash = runtime.load(&wasm).unwrap();
    let mut input = Vec::new();
    for i in 0..20_000 {
        input.extend(format!("line {i} {}\n", if i % 7 == 0 { "needle" } else { "hay" }).bytes());
    }
    input.extend(b"last needle without newline");
    let expected: String = String::from_utf8_lossy(&input)
        .lines()
        .filter(|l| l.contains("needle"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = runtime
        .run(
            hash,
            vec!["needle".into()],
            std::io::Cursor::new(input),
            limits(),
        )
        .await
        .unwrap();
    assert_eq!(out.failure, None);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    let usage = runtime
        .run(hash, vec![], std::io::Cursor::new(vec![]), limits())
        .await
        .unwrap();
    assert_eq!(usage.failure, Some(Failure::Exit(2)));
    assert_eq!(usage.stderr, b"usage: grep STRING\n");
}

#[tokio::test]
async fn blake3_prints_the_hash_b3sum_prints() {
    let runtime = Runtime::new(2).unwrap();
    let wasm = assemble(include_bytes!("../../examples/blake3.wat")).unwrap();
    let hash = runtime.load(&wasm).unwrap();
    // Around every block, chunk and tree boundary.
    let lengths = [
        0usize,
        1,
        63,
        64,
        65,
        1023,
        1024,
        1025,
        2048,
        2049,
        3072,
        4096,
        5000,
        8192,
        16385,
        65536,
        100_003,
        1 << 20,
    ];
    for len in lengths {
        let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let fueled = Limits {
            fuel: 10_000_000_000,
            ..limits()
        };
        let out = runtime
            .run(hash, vec![], std::io::Cursor::new(input.clone()), fueled)
            .await
            .unwrap();
        assert_eq!(out.failure, None, "{len} bytes");
        let expected = format!("{}\n", blake3::hash(&input).to_hex());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            expected,
            "{len} bytes"
        );
    }
}

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let runtime = Runtime::new(1).unwrap();
    let wasm = assemble(SPIN.as_bytes()).unwrap();
    let out = run(&runtime, &wasm, b"", limits()).await;
    assert_eq!(out.failure, Some(Failure::OutOfFuel));
}

#[tokio::test]
async fn an_infinite_loop_with_fuel_to_spare_times_out() {
    let runtime = Runtime::new(1).unwrap();
    let wasm = assemble(SPIN.as_bytes()).unwrap();
    let limits = Limits {
        fuel: Limits::MAX.fuel,
        timeout_ms: 200,
        ..limits()
    };
    let out = run(&runtime, &wasm, b"", limits).await;
    assert_eq!(out.failure, Some(Failure::TimedOut));
    assert!(
        out.elapsed >= Duration::from_millis(200),
        "{:?}",
        out.elapsed
    );
}

#[tokio::test]
async fn a_memory_bomb_traps_at_the_limit() {
    let runtime = Runtime::new(1).unwrap();
    let wasm = assemble(BOMB.as_bytes()).unwrap();
    let out = run(&runtime, &wasm, b"", limits()).await;
    assert_eq!(out.failure, Some(Failure::MemoryLimit));
}

#[tokio::test]
async fn writing_past_the_output_limit_fails_the_task() {
    let runtime = Runtime::new(1).unwrap();
    // Writes 64 KiB of memory to stdout over and over, ignoring errors.
    let wasm = assemble(FLOOD.as_bytes()).unwrap();
    let out = run(&runtime, &wasm, b"", limits()).await;
    assert_eq!(out.failure, Some(Failure::OutputLimit));
    assert!(out.stdout.len() as u64 <= limits().output);
}

#[tokio::test]
async fn opening_a_file_is_refused_by_name() {
    let runtime = Runtime::new(1).unwrap();
    let wasm = assemble(SNOOP.as_bytes()).unwrap();
    let out = run(&runtime, &wasm, b"", limits()).await;
    assert_eq!(out.failure, Some(Failure::Denied("opening files")));
    assert_eq!(
        out.failure.unwrap().to_string(),
        "opening files is not allowed"
    );
}

#[tokio::test]
async fn a_non_zero_exit_is_a_failure_and_stderr_is_kept_up_to_its_cap() {
    let runtime = Runtime::new(1).unwrap();
    let wasm = module(
        r#"(data (i32.const 100) "something went wrong\n")
           (func (export "_start")
             (local $i i32)
             (i32.store (i32.const 0) (i32.const 100))
             (i32.store (i32.const 4) (i32.const 21))
             (loop $l
               (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
             (call $proc_exit (i32.const 3)))"#,
    );
    let out = run(&runtime, &wasm, b"", limits()).await;
    assert_eq!(out.failure, Some(Failure::Exit(3)));
    assert_eq!(out.stderr.len() as u64, limits().log);
    assert!(out.stderr.starts_with(b"something went wrong\n"));
}

#[tokio::test]
async fn bad_modules_are_refused_before_running() {
    let runtime = Runtime::new(1).unwrap();
    assert!(matches!(
        runtime.load(b"\0asm\x01\0\0\0garbage"),
        Err(RuntimeError::InvalidModule(_))
    ));
    assert!(matches!(
        assemble(b"(module (func"),
        Err(RuntimeError::InvalidModule(_))
    ));
    let missing = [7u8; 32];
    let err = runtime
        .run(missing, vec![], std::io::Cursor::new(vec![]), limits())
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::NotLoaded(_)));
    // No `_start`: a clear trap, not a hang.
    let wasm = module("");
    let out = run(&runtime, &wasm, b"", limits()).await;
    assert!(
        matches!(out.failure, Some(Failure::Trap(_))),
        "{:?}",
        out.failure
    );
}

#[tokio::test]
async fn tasks_beyond_the_slots_wait_for_one() {
    let runtime = Runtime::new(1).unwrap();
    let wasm = assemble(WC.as_bytes()).unwrap();
    let hash = runtime.load(&wasm).unwrap();
    assert!(runtime.has(&hash));
    let (a, b) = tokio::join!(
        runtime.run(
            hash,
            vec![],
            std::io::Cursor::new(b"a\n".to_vec()),
            limits()
        ),
        runtime.run(
            hash,
            vec![],
            std::io::Cursor::new(b"bb\n\n".to_vec()),
            limits()
        ),
    );
    assert_eq!(a.unwrap().stdout, b"1 2\n");
    assert_eq!(b.unwrap().stdout, b"2 4\n");
    assert_eq!(runtime.free_slots(), 1);
}
