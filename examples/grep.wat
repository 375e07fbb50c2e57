;; grep: prints the lines of its input that contain a fixed string.
;; argv[1]: the string. stdin: text. stdout: the matching lines.
;; Lines longer than 64 KiB are matched in 64 KiB pieces.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ;; 0: iovec; 8: argc; 12: argv bytes; 16: bytes read/written; 32: "\n";
  ;; 64: usage text; 1024: argv pointers (256 of them);
  ;; 4096..24576: argv bytes; 32768..98304: input chunk;
  ;; 131072..196608: the current line.
  (memory (export "memory") 4)
  (data (i32.const 32) "\n")
  (data (i32.const 64) "usage: grep STRING\n")
  (global $pattern (mut i32) (i32.const 0))
  (global $pattern_len (mut i32) (i32.const 0))
  (global $line_len (mut i32) (i32.const 0))

  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 16))
      (then (call $proc_exit (i32.const 1)))))

  ;; Whether the pattern occurs in memory[ptr .. ptr+len).
  (func $contains (param $ptr i32) (param $len i32) (result i32)
    (local $at i32) (local $j i32)
    (if (i32.gt_u (global.get $pattern_len) (local.get $len)) (then (return (i32.const 0))))
    (block $none
      (loop $next
        (br_if $none (i32.gt_u (i32.add (local.get $at) (global.get $pattern_len)) (local.get $len)))
        (local.set $j (i32.const 0))
        (block $differ
          (loop $cmp
            (if (i32.eq (local.get $j) (global.get $pattern_len)) (then (return (i32.const 1))))
            (br_if $differ
              (i32.ne
                (i32.load8_u (i32.add (local.get $ptr) (i32.add (local.get $at) (local.get $j))))
                (i32.load8_u (i32.add (global.get $pattern) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $cmp)))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  ;; Prints the current line if it matches (with a newline if it has none),
  ;; and starts a new one.
  (func $end_line
    (local $len i32)
    (local.set $len (global.get $line_len))
    (global.set $line_len (i32.const 0))
    (if (i32.eqz (local.get $len)) (then (return)))
    (if (call $contains (i32.const 131072) (local.get $len))
      (then
        (call $write (i32.const 1) (i32.const 131072) (local.get $len))
        (if (i32.ne (i32.load8_u (i32.add (i32.const 131071) (local.get $len))) (i32.const 10))
          (then (call $write (i32.const 1) (i32.const 32) (i32.const 1)))))))

  (func (export "_start")
    (local $n i32) (local $i i32) (local $byte i32) (local $p i32)
    (drop (call $args_sizes_get (i32.const 8) (i32.const 12)))
    (if (i32.or
          (i32.lt_u (i32.load (i32.const 8)) (i32.const 2))
          (i32.or (i32.gt_u (i32.load (i32.const 8)) (i32.const 256))
                  (i32.gt_u (i32.load (i32.const 12)) (i32.const 20480))))
      (then
        (call $write (i32.const 2) (i32.const 64) (i32.const 19))
        (call $proc_exit (i32.const 2))))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    ;; argv[1], up to its NUL.
    (global.set $pattern (i32.load (i32.const 1028)))
    (local.set $p (global.get $pattern))
    (block $end
      (loop $scan
        (br_if $end (i32.eqz (i32.load8_u (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (global.set $pattern_len (i32.sub (local.get $p) (global.get $pattern)))
    (block $eof
      (loop $read
        (i32.store (i32.const 0) (i32.const 32768))
        (i32.store (i32.const 4) (i32.const 65536))
        (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16))
          (then (call $proc_exit (i32.const 1))))
        (local.set $n (i32.load (i32.const 16)))
        (br_if $eof (i32.eqz (local.get $n)))
        (local.set $i (i32.const 0))
        (block $chunk_done
          (loop $each
            (br_if $chunk_done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $byte (i32.load8_u offset=32768 (local.get $i)))
            (i32.store8 offset=131072 (global.get $line_len) (local.get $byte))
            (global.set $line_len (i32.add (global.get $line_len) (i32.const 1)))
            (if (i32.or (i32.eq (local.get $byte) (i32.const 10))
                        (i32.eq (global.get $line_len) (i32.const 65536)))
              (then (call $end_line)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $each)))
        (br $read)))
    (call $end_line)))
