;; The ring's partial sums in WebAssembly SIMD (f32x4): x += y, and the mean (x + y) / n (or
;; (x + y) * (1/n) where n is a power of two, which is exact). Each lane does the one correctly
;; rounded float32 operation the JavaScript loops in codec.ts do (a double sum of two floats
;; rounded once to float32 is the correctly rounded float32 sum: double has over 2·24 + 2 bits),
;; so both give the same bits (tests/ring-codec-simd.test.ts). Why: JavaScript runs codec.ts's
;; loops at 1.5-1.8 ns per float on the CI machine; a shared-memory all-reduce of 9.4 MB at N = 2
;; spent 2.1 ms of its time there. Four lanes at a time, plus copying both operands into this
;; module's memory and the result out, costs a quarter of that.
;;
;; Memory (its own, 2 pages of 64 KiB per 32 Ki floats of each operand): x at 0, y at $y.
;; Built into src/shared/allreduce/sum-simd-binary.ts by scripts/build-wasm.ts (wabt).
(module
  (memory (export "memory") 1)
  ;; x[0..n) += y[0..n)
  (func (export "add") (param $y i32) (param $n i32)
    (local $i i32) (local $end4 i32) (local $at i32)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (block $done4
      (loop $quads
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (local.get $at)
          (f32x4.add (v128.load (local.get $at)) (v128.load (i32.add (local.get $y) (local.get $at)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $quads)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (f32.store (local.get $at)
          (f32.add (f32.load (local.get $at)) (f32.load (i32.add (local.get $y) (local.get $at)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))
  ;; x[0..n) = (x + y) * inv when $pow2 (inv = 1/n exactly), else (x + y) / d
  (func (export "mean") (param $y i32) (param $n i32) (param $d f32) (param $pow2 i32)
    (local $i i32) (local $end4 i32) (local $at i32) (local $s v128) (local $D v128) (local $sf f32)
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $D (f32x4.splat (local.get $d)))
    (block $done4
      (loop $quads
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $s (f32x4.add (v128.load (local.get $at)) (v128.load (i32.add (local.get $y) (local.get $at)))))
        (v128.store (local.get $at)
          (if (result v128) (local.get $pow2)
            (then (f32x4.mul (local.get $s) (local.get $D)))
            (else (f32x4.div (local.get $s) (local.get $D)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $quads)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $sf (f32.add (f32.load (local.get $at)) (f32.load (i32.add (local.get $y) (local.get $at)))))
        (f32.store (local.get $at)
          (if (result f32) (local.get $pow2)
            (then (f32.mul (local.get $sf) (local.get $d)))
            (else (f32.div (local.get $sf) (local.get $d)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))))
