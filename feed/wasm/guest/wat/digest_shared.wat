;; A --wasm-shared strategy module: fh's stream digest (fh_guest::Digest), read from the ring's
;; slots in place. The shared-mode ABI (fh-wasm's crate docs):
;; - imports the shared memory fh.memory, min == max pages (here 80: 5 MiB);
;; - fh_ring(slots) -> offset: where the host maps the ring (read-only), a multiple of 65536
;;   with slots * 64 bytes after it inside the memory (here 64 KiB: rings up to 65536 slots);
;; - fh_on_batch(first, count): the updates are the 64-byte records at
;;   ring + ((first + i) & (slots - 1)) * 64, fh's BookUpdate layout (little-endian).
;; Its own state lives in globals and in the first page (below the ring).
(module
  (import "fh" "figure" (func $figure (param i32 i32 i64 i32)))
  (import "fh" "memory" (memory 80 80 shared))
  (global $ring (mut i32) (i32.const 0))
  (global $mask (mut i32) (i32.const 0))
  (global $h (mut i64) (i64.const 0xcbf29ce484222325))
  (global $count (mut i64) (i64.const 0))

  ;; wyhash's folded multiply: the low and high halves of the 128-bit product, xored.
  (func $mum (param $a i64) (param $b i64) (result i64)
    (local $a0 i64) (local $a1 i64) (local $b0 i64) (local $b1 i64)
    (local $p00 i64) (local $p01 i64) (local $p10 i64) (local $mid i64)
    (local.set $a0 (i64.and (local.get $a) (i64.const 0xffffffff)))
    (local.set $a1 (i64.shr_u (local.get $a) (i64.const 32)))
    (local.set $b0 (i64.and (local.get $b) (i64.const 0xffffffff)))
    (local.set $b1 (i64.shr_u (local.get $b) (i64.const 32)))
    (local.set $p00 (i64.mul (local.get $a0) (local.get $b0)))
    (local.set $p01 (i64.mul (local.get $a0) (local.get $b1)))
    (local.set $p10 (i64.mul (local.get $a1) (local.get $b0)))
    (local.set $mid
      (i64.add
        (i64.add (i64.shr_u (local.get $p00) (i64.const 32))
                 (i64.and (local.get $p01) (i64.const 0xffffffff)))
        (i64.and (local.get $p10) (i64.const 0xffffffff))))
    (i64.xor
      ;; low half
      (i64.or (i64.and (local.get $p00) (i64.const 0xffffffff))
              (i64.shl (local.get $mid) (i64.const 32)))
      ;; high half
      (i64.add
        (i64.add (i64.mul (local.get $a1) (local.get $b1))
                 (i64.shr_u (local.get $p01) (i64.const 32)))
        (i64.add (i64.shr_u (local.get $p10) (i64.const 32))
                 (i64.shr_u (local.get $mid) (i64.const 32))))))

  (func (export "fh_ring") (param $slots i32) (result i32)
    (global.set $mask (i32.sub (local.get $slots) (i32.const 1)))
    (global.set $ring (i32.const 0x10000))
    (global.get $ring))

  (func (export "fh_on_batch") (param $first i32) (param $count i32)
    (local $i i32) (local $p i32) (local $x1 i64) (local $x2 i64) (local $x3 i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $p
          (i32.add (global.get $ring)
            (i32.shl (i32.and (i32.add (local.get $first) (local.get $i)) (global.get $mask))
                     (i32.const 6))))
        (local.set $x1 (call $mum
          (i64.xor (i64.load offset=0 (local.get $p)) (i64.const 0xa0761d6478bd642f))
          (i64.xor (i64.load offset=8 (local.get $p)) (i64.const 0xe7037ed1a0b428db))))
        (local.set $x2 (call $mum
          (i64.xor (i64.load offset=32 (local.get $p)) (i64.const 0x8ebc6af09c88c6e3))
          (i64.xor (i64.load offset=40 (local.get $p)) (i64.const 0x589965cc75374cc3))))
        ;; order_count | instrument << 32, and kind | side << 8 | flags << 16
        (local.set $x3 (call $mum
          (i64.xor (i64.load offset=48 (local.get $p)) (i64.const 0x1d8e4e27c47d124f))
          (i64.xor (i64.load32_u offset=56 (local.get $p)) (i64.const 0x00000100000001b3))))
        (global.set $h (call $mum
          (i64.xor (global.get $h) (local.get $x1))
          (i64.xor (i64.xor (local.get $x2) (local.get $x3)) (i64.const 0x9e3779b97f4a7c15))))
        (global.set $count (i64.add (global.get $count) (i64.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "fh_on_finish")
    ;; "digest" and "updates" at 0 and 8 of the first page (not the ring)
    (i64.store (i32.const 0) (i64.const 0x747365676964))
    (i64.store (i32.const 8) (i64.const 0x73657461647075))
    (call $figure (i32.const 0) (i32.const 6) (global.get $h) (i32.const 1))
    (call $figure (i32.const 8) (i32.const 7) (global.get $count) (i32.const 0)))
)
