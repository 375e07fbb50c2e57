;; blake3: the BLAKE3 hash of its input (32 bytes, in hex, then a newline),
;; as `b3sum` prints it. Streams: memory use does not grow with the input.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ;; 0: iovec; 16: bytes read; 128: hex digits; 200: message permutation;
  ;; 256: IV; 320: state v[16]; 384: message m[16]; 448: permuted m;
  ;; 512: the chunk's chaining value; 544..608: a parent's block (two
  ;; CVs); 640: the block being filled (64 bytes); 1024: the CV stack
  ;; (54 x 32);
  ;; 4096..69632: input chunk; 70000: the answer.
  (memory (export "memory") 2)
  (data (i32.const 128) "0123456789abcdef")
  (data (i32.const 200) "\02\06\03\0a\07\00\04\0d\01\0b\0c\05\09\0e\0f\08")
  (data (i32.const 256)
    "\67\e6\09\6a\85\ae\67\bb\72\f3\6e\3c\3a\f5\4f\a5"
    "\7f\52\0e\51\8c\68\05\9b\ab\d9\83\1f\19\cd\e0\5b")
  (global $counter (mut i64) (i64.const 0))
  (global $block_len (mut i32) (i32.const 0))
  (global $blocks (mut i32) (i32.const 0))
  (global $stack_len (mut i32) (i32.const 0))

  (func $g (param $a i32) (param $b i32) (param $c i32) (param $d i32)
           (param $x i32) (param $y i32)
    (local $va i32) (local $vb i32) (local $vc i32) (local $vd i32)
    (local.set $va (i32.load (local.get $a)))
    (local.set $vb (i32.load (local.get $b)))
    (local.set $vc (i32.load (local.get $c)))
    (local.set $vd (i32.load (local.get $d)))
    (local.set $va (i32.add (i32.add (local.get $va) (local.get $vb)) (local.get $x)))
    (local.set $vd (i32.rotr (i32.xor (local.get $vd) (local.get $va)) (i32.const 16)))
    (local.set $vc (i32.add (local.get $vc) (local.get $vd)))
    (local.set $vb (i32.rotr (i32.xor (local.get $vb) (local.get $vc)) (i32.const 12)))
    (local.set $va (i32.add (i32.add (local.get $va) (local.get $vb)) (local.get $y)))
    (local.set $vd (i32.rotr (i32.xor (local.get $vd) (local.get $va)) (i32.const 8)))
    (local.set $vc (i32.add (local.get $vc) (local.get $vd)))
    (local.set $vb (i32.rotr (i32.xor (local.get $vb) (local.get $vc)) (i32.const 7)))
    (i32.store (local.get $a) (local.get $va))
    (i32.store (local.get $b) (local.get $vb))
    (i32.store (local.get $c) (local.get $vc))
    (i32.store (local.get $d) (local.get $vd)))

  (func $m (param $i i32) (result i32)
    (i32.load (i32.add (i32.const 384) (i32.shl (local.get $i) (i32.const 2)))))

  (func $round
    (call $g (i32.const 320) (i32.const 336) (i32.const 352) (i32.const 368) (call $m (i32.const 0)) (call $m (i32.const 1)))
    (call $g (i32.const 324) (i32.const 340) (i32.const 356) (i32.const 372) (call $m (i32.const 2)) (call $m (i32.const 3)))
    (call $g (i32.const 328) (i32.const 344) (i32.const 360) (i32.const 376) (call $m (i32.const 4)) (call $m (i32.const 5)))
    (call $g (i32.const 332) (i32.const 348) (i32.const 364) (i32.const 380) (call $m (i32.const 6)) (call $m (i32.const 7)))
    (call $g (i32.const 320) (i32.const 340) (i32.const 360) (i32.const 380) (call $m (i32.const 8)) (call $m (i32.const 9)))
    (call $g (i32.const 324) (i32.const 344) (i32.const 364) (i32.const 368) (call $m (i32.const 10)) (call $m (i32.const 11)))
    (call $g (i32.const 328) (i32.const 348) (i32.const 352) (i32.const 372) (call $m (i32.const 12)) (call $m (i32.const 13)))
    (call $g (i32.const 332) (i32.const 336) (i32.const 356) (i32.const 376) (call $m (i32.const 14)) (call $m (i32.const 15))))

  (func $permute
    (local $i i32)
    (loop $each
      (i32.store (i32.add (i32.const 448) (i32.shl (local.get $i) (i32.const 2)))
        (call $m (i32.load8_u (i32.add (i32.const 200) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (i32.const 16))))
    (memory.copy (i32.const 384) (i32.const 448) (i32.const 64)))

  ;; Compresses the 64-byte block at $block under the CV at $cv; the CV of
  ;; the result goes to $out (which may be $cv).
  (func $compress (param $cv i32) (param $block i32) (param $counter i64)
                  (param $len i32) (param $flags i32) (param $out i32)
    (local $r i32) (local $i i32)
    (memory.copy (i32.const 320) (local.get $cv) (i32.const 32))
    (memory.copy (i32.const 352) (i32.const 256) (i32.const 16))
    (i32.store (i32.const 368) (i32.wrap_i64 (local.get $counter)))
    (i32.store (i32.const 372) (i32.wrap_i64 (i64.shr_u (local.get $counter) (i64.const 32))))
    (i32.store (i32.const 376) (local.get $len))
    (i32.store (i32.const 380) (local.get $flags))
    (memory.copy (i32.const 384) (local.get $block) (i32.const 64))
    (loop $rounds
      (call $round)
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (if (i32.lt_u (local.get $r) (i32.const 7))
        (then (call $permute) (br $rounds))))
    (loop $fold
      (i32.store (i32.add (local.get $out) (local.get $i))
        (i32.xor (i32.load (i32.add (i32.const 320) (local.get $i)))
                 (i32.load (i32.add (i32.const 352) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $fold (i32.lt_u (local.get $i) (i32.const 32)))))

  ;; The CV of the parent of the CV at $left and the CV at $right, to $out.
  (func $parent (param $left i32) (param $right i32) (param $flags i32) (param $out i32)
    (memory.copy (i32.const 544) (local.get $left) (i32.const 32))
    (memory.copy (i32.const 576) (local.get $right) (i32.const 32))
    (call $compress (i32.const 256) (i32.const 544) (i64.const 0) (i32.const 64)
      (i32.or (i32.const 4) (local.get $flags)) (local.get $out)))

  ;; The chunk that just ended has its CV at 512: merge it into the stack.
  (func $push_chunk
    (local $total i64) (local $top i32)
    (local.set $total (i64.add (global.get $counter) (i64.const 1)))
    (block $merged
      (loop $merge
        (br_if $merged (i64.ne (i64.and (local.get $total) (i64.const 1)) (i64.const 0)))
        (global.set $stack_len (i32.sub (global.get $stack_len) (i32.const 1)))
        (local.set $top (i32.add (i32.const 1024) (i32.shl (global.get $stack_len) (i32.const 5))))
        (call $parent (local.get $top) (i32.const 512) (i32.const 0) (i32.const 512))
        (local.set $total (i64.shr_u (local.get $total) (i64.const 1)))
        (br $merge)))
    (memory.copy (i32.add (i32.const 1024) (i32.shl (global.get $stack_len) (i32.const 5)))
      (i32.const 512) (i32.const 32))
    (global.set $stack_len (i32.add (global.get $stack_len) (i32.const 1))))

  ;; Compresses the full buffered block, knowing more input follows.
  (func $flush_block
    (local $flags i32)
    (local.set $flags (select (i32.const 1) (i32.const 0) (i32.eqz (global.get $blocks))))
    (if (i32.eq (global.get $blocks) (i32.const 15))
      (then
        ;; The chunk's last block: the chunk ends.
        (call $compress (i32.const 512) (i32.const 640) (global.get $counter) (i32.const 64)
          (i32.or (local.get $flags) (i32.const 2)) (i32.const 512))
        (call $push_chunk)
        (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
        (global.set $blocks (i32.const 0))
        (memory.copy (i32.const 512) (i32.const 256) (i32.const 32)))
      (else
        (call $compress (i32.const 512) (i32.const 640) (global.get $counter) (i32.const 64)
          (local.get $flags) (i32.const 512))
        (global.set $blocks (i32.add (global.get $blocks) (i32.const 1)))))
    (memory.fill (i32.const 640) (i32.const 0) (i32.const 64))
    (global.set $block_len (i32.const 0)))

  (func $update (param $ptr i32) (param $len i32)
    (local $take i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (if (i32.eq (global.get $block_len) (i32.const 64)) (then (call $flush_block)))
        (local.set $take (i32.sub (i32.const 64) (global.get $block_len)))
        (if (i32.lt_u (local.get $len) (local.get $take)) (then (local.set $take (local.get $len))))
        (memory.copy (i32.add (i32.const 640) (global.get $block_len)) (local.get $ptr) (local.get $take))
        (global.set $block_len (i32.add (global.get $block_len) (local.get $take)))
        (local.set $ptr (i32.add (local.get $ptr) (local.get $take)))
        (local.set $len (i32.sub (local.get $len) (local.get $take)))
        (br $more))))

  ;; The root hash, to 512.
  (func $finish
    (local $flags i32) (local $i i32)
    (local.set $flags
      (i32.or (i32.const 2) (select (i32.const 1) (i32.const 0) (i32.eqz (global.get $blocks)))))
    (if (i32.eqz (global.get $stack_len))
      (then
        (call $compress (i32.const 512) (i32.const 640) (global.get $counter)
          (global.get $block_len) (i32.or (local.get $flags) (i32.const 8)) (i32.const 512))
        (return)))
    (call $compress (i32.const 512) (i32.const 640) (global.get $counter)
      (global.get $block_len) (local.get $flags) (i32.const 512))
    (local.set $i (global.get $stack_len))
    (loop $up
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (call $parent (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 5)))
        (i32.const 512) (select (i32.const 8) (i32.const 0) (i32.eqz (local.get $i))) (i32.const 512))
      (br_if $up (i32.ne (local.get $i) (i32.const 0)))))

  (func (export "_start")
    (local $n i32) (local $i i32) (local $byte i32)
    (memory.copy (i32.const 512) (i32.const 256) (i32.const 32))
    (block $eof
      (loop $read
        (i32.store (i32.const 0) (i32.const 4096))
        (i32.store (i32.const 4) (i32.const 65536))
        (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16))
          (then (call $proc_exit (i32.const 1))))
        (local.set $n (i32.load (i32.const 16)))
        (br_if $eof (i32.eqz (local.get $n)))
        (call $update (i32.const 4096) (local.get $n))
        (br $read)))
    (call $finish)
    (loop $hex
      (local.set $byte (i32.load8_u (i32.add (i32.const 512) (local.get $i))))
      (i32.store8 (i32.add (i32.const 70000) (i32.shl (local.get $i) (i32.const 1)))
        (i32.load8_u (i32.add (i32.const 128) (i32.shr_u (local.get $byte) (i32.const 4)))))
      (i32.store8 (i32.add (i32.const 70001) (i32.shl (local.get $i) (i32.const 1)))
        (i32.load8_u (i32.add (i32.const 128) (i32.and (local.get $byte) (i32.const 15)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $hex (i32.lt_u (local.get $i) (i32.const 32))))
    (i32.store8 (i32.const 70064) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 70000))
    (i32.store (i32.const 4) (i32.const 65))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))
      (then (call $proc_exit (i32.const 1))))))
