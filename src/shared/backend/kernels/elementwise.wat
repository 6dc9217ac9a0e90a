;; Element-wise kernels of our own for the wasm backend, run on tfjs-backend-wasm's own heap (its
;; memory, imported: tensors are read and written where they are, no copy). Each computes, in
;; float32, exactly what the tfjs kernels it replaces compute, four lanes at a time:
;;   leakyRelu       out = x < 0 ? alpha * x : x              (tfjs' LeakyRelu)
;;   leakyReluGrad   dx = x > 0 ? dy : dy * alpha             (tfjs' gradient: where(greater(x, 0), dy, mul(dy, alpha)),
;;                                                             three kernels and two temporaries, in one pass)
;;   sumLeading      out[j] = (Σ_i x[i·cols + j]) / divisor   (tfjs' Sum and Mean over the leading axes: the same
;;                                                             float32 additions in the same order, i ascending, from 0)
;; and for the convolutions routed to OpenBLAS (blas-kernels.ts), their column buffers:
;;   im2col          cols[(n, oh, ow), (kh, kw, ci)] = x[n, oh·SH + kh·DH − top, ow·SW + kw·DW − left, ci], 0 outside
;;   col2imAdd       dx[n, oh·SH + kh − top, ow·SW + kw − left, :] += cols[(n, oh, ow), (kh, kw, :)], in the
;;                   JavaScript versions' order ((n, oh, ow, kh, kw) per dx value), so the same sums
;; and Dropout's mask (models/dropout.ts):
;;   dropoutMask     mask = floor(u + keep) / keep in float32, u the next number of seedrandom's alea
;;                   (its recurrence in the same doubles, stored as float32), as tfjs builds it with
;;                   randomUniform, Add, Floor and RealDiv: one pass, no upload, no temporaries
;; which in JavaScript took 28% of the DCGAN step (element by element: runs of KW·CI floats, or CI
;; for the 1-channel input, too short for copyWithin to pay).
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

  ;; Run helpers: $bytes is a multiple of 4; 16 bytes at a time, then 4.
  (func $copyRun (param $dst i32) (param $src i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.and (local.get $bytes) (i32.const -16))))
    (block $q (loop $quads
      (br_if $q (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (v128.load (local.get $src)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $quads)))
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $bytes) (i32.const 12))))
    (block $o (loop $ones
      (br_if $o (i32.ge_u (local.get $dst) (local.get $end)))
      (f32.store (local.get $dst) (f32.load (local.get $src)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (br $ones))))

  (func $addRun (param $dst i32) (param $src i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.and (local.get $bytes) (i32.const -16))))
    (block $q (loop $quads
      (br_if $q (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $quads)))
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $bytes) (i32.const 12))))
    (block $o (loop $ones
      (br_if $o (i32.ge_u (local.get $dst) (local.get $end)))
      (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (br $ones))))

  ;; x and cols are byte offsets; images n0 <= n < n1 (cols starts at image n0's first row).
  (func $im2col (export "im2col")
    (param $x i32) (param $cols i32) (param $n0 i32) (param $n1 i32)
    (param $H i32) (param $W i32) (param $CI i32) (param $OH i32) (param $OW i32) (param $KH i32) (param $KW i32)
    (param $SH i32) (param $SW i32) (param $DH i32) (param $DW i32) (param $top i32) (param $left i32)
    (local $n i32) (local $oh i32) (local $ow i32) (local $kh i32) (local $kw i32)
    (local $ih i32) (local $iw i32) (local $iw0 i32) (local $row i32) (local $d i32)
    (local $ciBytes i32) (local $runBytes i32) (local $inside i32)
    (local.set $ciBytes (i32.shl (local.get $CI) (i32.const 2)))
    (local.set $runBytes (i32.mul (local.get $KW) (local.get $ciBytes)))
    (local.set $n (local.get $n0))
    (block $nDone (loop $nLoop
      (br_if $nDone (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $oh (i32.const 0))
      (block $ohDone (loop $ohLoop
        (br_if $ohDone (i32.ge_s (local.get $oh) (local.get $OH)))
        (local.set $ow (i32.const 0))
        (block $owDone (loop $owLoop
          (br_if $owDone (i32.ge_s (local.get $ow) (local.get $OW)))
          (local.set $iw0 (i32.sub (i32.mul (local.get $ow) (local.get $SW)) (local.get $left)))
          (local.set $inside (i32.and (i32.eq (local.get $DW) (i32.const 1))
            (i32.and (i32.ge_s (local.get $iw0) (i32.const 0)) (i32.le_s (i32.add (local.get $iw0) (local.get $KW)) (local.get $W)))))
          (local.set $kh (i32.const 0))
          (block $khDone (loop $khLoop
            (br_if $khDone (i32.ge_s (local.get $kh) (local.get $KH)))
            (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $SH)) (i32.mul (local.get $kh) (local.get $DH))) (local.get $top)))
            (if (i32.or (i32.lt_s (local.get $ih) (i32.const 0)) (i32.ge_s (local.get $ih) (local.get $H)))
              (then (memory.fill (local.get $cols) (i32.const 0) (local.get $runBytes)))
              (else
                (local.set $row (i32.add (local.get $x)
                  (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $ih)) (local.get $W)) (local.get $ciBytes))))
                (if (local.get $inside)
                  (then (call $copyRun (local.get $cols) (i32.add (local.get $row) (i32.mul (local.get $iw0) (local.get $ciBytes))) (local.get $runBytes)))
                  (else
                    (local.set $kw (i32.const 0))
                    (local.set $d (local.get $cols))
                    (block $kwDone (loop $kwLoop
                      (br_if $kwDone (i32.ge_s (local.get $kw) (local.get $KW)))
                      (local.set $iw (i32.add (local.get $iw0) (i32.mul (local.get $kw) (local.get $DW))))
                      (if (i32.or (i32.lt_s (local.get $iw) (i32.const 0)) (i32.ge_s (local.get $iw) (local.get $W)))
                        (then (memory.fill (local.get $d) (i32.const 0) (local.get $ciBytes)))
                        (else (call $copyRun (local.get $d) (i32.add (local.get $row) (i32.mul (local.get $iw) (local.get $ciBytes))) (local.get $ciBytes))))
                      (local.set $d (i32.add (local.get $d) (local.get $ciBytes)))
                      (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
                      (br $kwLoop)))))))
            (local.set $cols (i32.add (local.get $cols) (local.get $runBytes)))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $khLoop)))
          (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
          (br $owLoop)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $ohLoop)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nLoop))))

  ;; cols and dx are byte offsets; images n0 <= n < n1 (cols starts at image n0's first row).
  (func $col2imAdd (export "col2imAdd")
    (param $cols i32) (param $dx i32) (param $n0 i32) (param $n1 i32)
    (param $H i32) (param $W i32) (param $CI i32) (param $OH i32) (param $OW i32) (param $KH i32) (param $KW i32)
    (param $SH i32) (param $SW i32) (param $top i32) (param $left i32)
    (local $n i32) (local $oh i32) (local $ow i32) (local $kh i32) (local $kw i32)
    (local $ih i32) (local $iw i32) (local $iw0 i32) (local $row i32)
    (local $ciBytes i32) (local $runBytes i32) (local $inside i32)
    (local.set $ciBytes (i32.shl (local.get $CI) (i32.const 2)))
    (local.set $runBytes (i32.mul (local.get $KW) (local.get $ciBytes)))
    (local.set $n (local.get $n0))
    (block $nDone (loop $nLoop
      (br_if $nDone (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $oh (i32.const 0))
      (block $ohDone (loop $ohLoop
        (br_if $ohDone (i32.ge_s (local.get $oh) (local.get $OH)))
        (local.set $ow (i32.const 0))
        (block $owDone (loop $owLoop
          (br_if $owDone (i32.ge_s (local.get $ow) (local.get $OW)))
          (local.set $iw0 (i32.sub (i32.mul (local.get $ow) (local.get $SW)) (local.get $left)))
          (local.set $inside (i32.and (i32.ge_s (local.get $iw0) (i32.const 0)) (i32.le_s (i32.add (local.get $iw0) (local.get $KW)) (local.get $W))))
          (local.set $kh (i32.const 0))
          (block $khDone (loop $khLoop
            (br_if $khDone (i32.ge_s (local.get $kh) (local.get $KH)))
            (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $SH)) (local.get $kh)) (local.get $top)))
            (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H)))
              (then
                (local.set $row (i32.add (local.get $dx)
                  (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $ih)) (local.get $W)) (local.get $ciBytes))))
                (if (local.get $inside)
                  (then (call $addRun (i32.add (local.get $row) (i32.mul (local.get $iw0) (local.get $ciBytes))) (local.get $cols) (local.get $runBytes)))
                  (else
                    (local.set $kw (i32.const 0))
                    (block $kwDone (loop $kwLoop
                      (br_if $kwDone (i32.ge_s (local.get $kw) (local.get $KW)))
                      (local.set $iw (i32.add (local.get $iw0) (local.get $kw)))
                      (if (i32.and (i32.ge_s (local.get $iw) (i32.const 0)) (i32.lt_s (local.get $iw) (local.get $W)))
                        (then (call $addRun (i32.add (local.get $row) (i32.mul (local.get $iw) (local.get $ciBytes)))
                          (i32.add (local.get $cols) (i32.mul (local.get $kw) (local.get $ciBytes))) (local.get $ciBytes))))
                      (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
                      (br $kwLoop)))))))
            (local.set $cols (i32.add (local.get $cols) (local.get $runBytes)))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $khLoop)))
          (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
          (br $owLoop)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $ohLoop)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nLoop))))

  ;; Alea's state (s0, s1, s2, c) as seedrandom seeds it; `out` gets n mask values.
  (func $dropoutMask (export "dropoutMask") (param $out i32) (param $n i32)
    (param $s0 f64) (param $s1 f64) (param $s2 f64) (param $c f64) (param $keep f32)
    (local $end i32) (local $t f64)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      ;; t = 2091639 * s0 + c * 2^-32; s0 = s1; s1 = s2; c = t | 0 (t >= 0: truncation); s2 = t - c
      (local.set $t (f64.add (f64.mul (f64.const 2091639) (local.get $s0)) (f64.mul (local.get $c) (f64.const 2.3283064365386963e-10))))
      (local.set $s0 (local.get $s1))
      (local.set $s1 (local.get $s2))
      (local.set $c (f64.trunc (local.get $t)))
      (local.set $s2 (f64.sub (local.get $t) (local.get $c)))
      (f32.store (local.get $out)
        (f32.div (f32.floor (f32.add (f32.demote_f64 (local.get $s2)) (local.get $keep))) (local.get $keep)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (br $next))))
)
