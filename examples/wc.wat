;; wc: counts the lines and bytes of its input.
;; stdin: any bytes. stdout: "<lines> <bytes>\n".
;; Newlines are counted eight bytes at a time: in x = word XOR 0x0a0a..0a a
;; byte is zero where the input had '\n', and
;; ~(((x & 0x7f..7f) + 0x7f..7f) | x | 0x7f..7f) has the high bit of exactly
;; those bytes set (no carry crosses a byte), so its popcount is their number.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ;; 0: iovec {ptr, len}; 16: bytes read; 1024..66560: input buffer;
  ;; 70000..70064: the answer, written backwards from 70064.
  (memory (export "memory") 2)

  ;; Writes `value` in decimal ending just before `end`; returns where it starts.
  (func $decimal (param $value i64) (param $end i32) (result i32)
    (loop $digit
      (local.set $end (i32.sub (local.get $end) (i32.const 1)))
      (i32.store8 (local.get $end)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $value) (i64.const 10)))))
      (local.set $value (i64.div_u (local.get $value) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $value) (i64.const 0))))
    (local.get $end))

  (func (export "_start")
    (local $n i32) (local $i i32) (local $lines i64) (local $bytes i64) (local $start i32)
    (local $x i64)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 65536))
    (block $eof
      (loop $read
        (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16))
          (then (call $proc_exit (i32.const 1))))
        (local.set $n (i32.load (i32.const 16)))
        (br_if $eof (i32.eqz (local.get $n)))
        (local.set $bytes (i64.add (local.get $bytes) (i64.extend_i32_u (local.get $n))))
        (local.set $i (i32.const 0))
        (block $words
          (loop $word
            (br_if $words (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $n)))
            (local.set $x (i64.xor (i64.load offset=1024 (local.get $i))
                                   (i64.const 0x0a0a0a0a0a0a0a0a)))
            (local.set $lines (i64.add (local.get $lines)
              (i64.popcnt
                (i64.xor
                  (i64.or
                    (i64.or
                      (i64.add (i64.and (local.get $x) (i64.const 0x7f7f7f7f7f7f7f7f))
                               (i64.const 0x7f7f7f7f7f7f7f7f))
                      (local.get $x))
                    (i64.const 0x7f7f7f7f7f7f7f7f))
                  (i64.const -1)))))
            (local.set $i (i32.add (local.get $i) (i32.const 8)))
            (br $word)))
        (block $scanned
          (loop $scan
            (br_if $scanned (i32.ge_u (local.get $i) (local.get $n)))
            (if (i32.eq (i32.load8_u offset=1024 (local.get $i)) (i32.const 10))
              (then (local.set $lines (i64.add (local.get $lines) (i64.const 1)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $scan)))
        (br $read)))
    ;; "<lines> <bytes>\n"
    (i32.store8 (i32.const 70063) (i32.const 10))
    (local.set $start (call $decimal (local.get $bytes) (i32.const 70063)))
    (local.set $start (i32.sub (local.get $start) (i32.const 1)))
    (i32.store8 (local.get $start) (i32.const 32))
    (local.set $start (call $decimal (local.get $lines) (local.get $start)))
    (i32.store (i32.const 0) (local.get $start))
    (i32.store (i32.const 4) (i32.sub (i32.const 70064) (local.get $start)))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))
      (then (call $proc_exit (i32.const 1))))))
