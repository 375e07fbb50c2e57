;; Tries to open /etc/passwd.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "/etc/passwd")
  (func (export "_start")
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 11)
      (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 200)))))
