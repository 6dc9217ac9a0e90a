;; Element-wise kernels of our own for the wasm backend, run on tfjs-backend-wasm's own heap (its
;; memory, imported: tensors are read and written where they are, no copy). Each computes, in
;; float32, exactly what the tfjs kernels it replaces compute, four lanes at a time:
;;   leakyRelu       out = x < 0 ? alpha * x : x              (tfjs' LeakyRelu)
;;   leakyReluGrad   dx = x > 0 ? dy : dy * alpha             (tfjs' gradient: where(greater(x, 0), dy, mul(dy, alpha)),
;;                                                             three kernels and two temporaries, in one pass)
;;   sumLeading      out[j] = (Σ_i x[i·cols + j]) / divisor   (tfjs' Sum and Mean over the leading axes: the same
;;                                                             float32 additions in the same order, i ascending, from 0)
;; Why: tfjs-backend-wasm 4.22 runs LeakyRelu as a scalar loop with a data-dependent branch (5.7 ns
;; per element here against 0.13 for Relu), Greater and Select likewise (3.8, 3.6 ns), and Sum or
;; Mean over axis 0 (every bias gradient and BatchNorm moment) as a transpose, then a sum (4.3 ns):
;; together about 20 ms of the MLP's 100 ms step (tf.profile of training steps, 2026-12-05).
;; Built into elementwise-binary.ts by scripts/build-wasm.ts (wabt).
(module
  (import "env" "memory" (memory 1))

  (func $leakyRelu (export "leakyRelu") (param $x i32) (param $out i32) (param $n i32) (param $alpha f32)
    (local $end i32) (local $v v128) (local $a v128)
    (local.set $a (f32x4.splat (local.get $alpha)))
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $quads
      (br_if $done4 (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (v128.load (local.get $x)))
      (v128.store (local.get $out)
        (v128.bitselect (f32x4.mul (local.get $a) (local.get $v)) (local.get $v)
          (f32x4.lt (local.get $v) (v128.const f32x4 0 0 0 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $quads)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done (loop $ones
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (f32.store (local.get $out)
        (select (f32.mul (local.get $alpha) (f32.load (local.get $x))) (f32.load (local.get $x))
          (f32.lt (f32.load (local.get $x)) (f32.const 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (br $ones))))

  (func $leakyReluGrad (export "leakyReluGrad") (param $x i32) (param $dy i32) (param $out i32) (param $n i32) (param $alpha f32)
    (local $end i32) (local $d v128) (local $a v128)
    (local.set $a (f32x4.splat (local.get $alpha)))
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $quads
      (br_if $done4 (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $d (v128.load (local.get $dy)))
      (v128.store (local.get $out)
        (v128.bitselect (local.get $d) (f32x4.mul (local.get $d) (local.get $a))
          (f32x4.gt (v128.load (local.get $x)) (v128.const f32x4 0 0 0 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $quads)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done (loop $ones
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (f32.store (local.get $out)
        (select (f32.load (local.get $dy)) (f32.mul (f32.load (local.get $dy)) (local.get $alpha))
          (f32.gt (f32.load (local.get $x)) (f32.const 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (br $ones))))

  (func $sumLeading (export "sumLeading") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32) (param $divisor f32)
    (local $i i32) (local $j i32) (local $o i32) (local $quadEnd i32) (local $rowBytes i32) (local $end i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $quadEnd (i32.shl (i32.and (local.get $cols) (i32.const -4)) (i32.const 2)))
    ;; out = 0
    (local.set $j (i32.const 0))
    (block $z (loop $zero
      (br_if $z (i32.ge_u (local.get $j) (local.get $rowBytes)))
      (f32.store (i32.add (local.get $out) (local.get $j)) (f32.const 0))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $zero)))
    ;; row by row: out += x[i]
    (block $rowsDone (loop $row
      (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $j (i32.const 0))
      (block $q (loop $quads
        (br_if $q (i32.ge_u (local.get $j) (local.get $quadEnd)))
        (local.set $o (i32.add (local.get $out) (local.get $j)))
        (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (v128.load (i32.add (local.get $x) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $quads)))
      (block $t (loop $tail
        (br_if $t (i32.ge_u (local.get $j) (local.get $rowBytes)))
        (local.set $o (i32.add (local.get $out) (local.get $j)))
        (f32.store (local.get $o) (f32.add (f32.load (local.get $o)) (f32.load (i32.add (local.get $x) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
      (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $row)))
    ;; out /= divisor (1 for Sum: exact)
    (local.set $j (i32.const 0))
    (block $dv (loop $div
      (br_if $dv (i32.ge_u (local.get $j) (local.get $rowBytes)))
      (local.set $o (i32.add (local.get $out) (local.get $j)))
      (f32.store (local.get $o) (f32.div (f32.load (local.get $o)) (local.get $divisor)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $div))))
)
