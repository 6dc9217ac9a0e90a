;; Adam's update on float32 arrays, two elements at a time in float64 (f64x2): the same IEEE
;; double operations, in the same order, as the JavaScript kernel in optimizer.ts, so the two give
;; the same bits (tests/optimizer.test.ts). sqrt and div are correctly rounded in both, f32 -> f64 is
;; exact, f64 -> f32 rounds to nearest even as a Float32Array store does, and the squared norm is
;; summed one element at a time, in order. Why: JavaScript runs this loop at 7-11 ns per parameter
;; (bounds checks, scalar sqrt and div), this at ~2; the MLP step spent 19% of its CPU in Adam.
;;
;; Memory (imported, one per optimizer, never grown): the caller puts a chunk of parameters at $p
;; and of gradients at $g; $m and $v point at the chunk's moments, kept in this memory for the
;; optimizer's life. The new parameters replace the chunk at $p; the moments are updated in place.
;; Built into src/shared/adam-simd-binary.ts by scripts/build-wasm.ts (wabt).
(module
  (import "env" "memory" (memory 1))
  (func $adamSimd (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $b1 f64) (param $b2 f64) (param $c1 f64) (param $c2 f64)
    (param $stepSize f64) (param $invSqrtBc2 f64) (param $eps f64) (param $sq f64)
    (result f64)
    (local $i i32) (local $at i32) (local $end2 i32)
    (local $gg v128) (local $mi v128) (local $vi v128)
    (local $B1 v128) (local $B2 v128) (local $C1 v128) (local $C2 v128)
    (local $SS v128) (local $ISB v128) (local $EPS v128)
    (local $gs f64) (local $ms f64) (local $vs f64)
    (local.set $B1 (f64x2.splat (local.get $b1)))
    (local.set $B2 (f64x2.splat (local.get $b2)))
    (local.set $C1 (f64x2.splat (local.get $c1)))
    (local.set $C2 (f64x2.splat (local.get $c2)))
    (local.set $SS (f64x2.splat (local.get $stepSize)))
    (local.set $ISB (f64x2.splat (local.get $invSqrtBc2)))
    (local.set $EPS (f64x2.splat (local.get $eps)))
    (local.set $end2 (i32.and (local.get $n) (i32.const -2)))
    ;; Pairs: g = grads[i]; sq += g*g; mi = b1*m + c1*g; vi = b2*v + (c2*g)*g;
    ;; p = p - (stepSize*mi) / (sqrt(vi)*invSqrtBc2 + eps)
    (block $pairsDone
      (loop $pairs
        (br_if $pairsDone (i32.ge_u (local.get $i) (local.get $end2)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gg (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $g) (local.get $at)))))
        (local.set $sq (f64.add (local.get $sq)
          (f64.mul (f64x2.extract_lane 0 (local.get $gg)) (f64x2.extract_lane 0 (local.get $gg)))))
        (local.set $sq (f64.add (local.get $sq)
          (f64.mul (f64x2.extract_lane 1 (local.get $gg)) (f64x2.extract_lane 1 (local.get $gg)))))
        (local.set $mi (f64x2.add
          (f64x2.mul (local.get $B1) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $m) (local.get $at)))))
          (f64x2.mul (local.get $C1) (local.get $gg))))
        (local.set $vi (f64x2.add
          (f64x2.mul (local.get $B2) (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $v) (local.get $at)))))
          (f64x2.mul (f64x2.mul (local.get $C2) (local.get $gg)) (local.get $gg))))
        (v128.store64_lane 0 (i32.add (local.get $m) (local.get $at)) (f32x4.demote_f64x2_zero (local.get $mi)))
        (v128.store64_lane 0 (i32.add (local.get $v) (local.get $at)) (f32x4.demote_f64x2_zero (local.get $vi)))
        (v128.store64_lane 0 (i32.add (local.get $p) (local.get $at))
          (f32x4.demote_f64x2_zero
            (f64x2.sub
              (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $p) (local.get $at))))
              (f64x2.div
                (f64x2.mul (local.get $SS) (local.get $mi))
                (f64x2.add (f64x2.mul (f64x2.sqrt (local.get $vi)) (local.get $ISB)) (local.get $EPS))))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $pairs)))
    ;; The odd element, if any: the same formula in scalar f64.
    (if (i32.lt_u (local.get $i) (local.get $n))
      (then
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f64.promote_f32 (f32.load (i32.add (local.get $g) (local.get $at)))))
        (local.set $sq (f64.add (local.get $sq) (f64.mul (local.get $gs) (local.get $gs))))
        (local.set $ms (f64.add
          (f64.mul (local.get $b1) (f64.promote_f32 (f32.load (i32.add (local.get $m) (local.get $at)))))
          (f64.mul (local.get $c1) (local.get $gs))))
        (local.set $vs (f64.add
          (f64.mul (local.get $b2) (f64.promote_f32 (f32.load (i32.add (local.get $v) (local.get $at)))))
          (f64.mul (f64.mul (local.get $c2) (local.get $gs)) (local.get $gs))))
        (f32.store (i32.add (local.get $m) (local.get $at)) (f32.demote_f64 (local.get $ms)))
        (f32.store (i32.add (local.get $v) (local.get $at)) (f32.demote_f64 (local.get $vs)))
        (f32.store (i32.add (local.get $p) (local.get $at))
          (f32.demote_f64
            (f64.sub
              (f64.promote_f32 (f32.load (i32.add (local.get $p) (local.get $at))))
              (f64.div
                (f64.mul (local.get $stepSize) (local.get $ms))
                (f64.add (f64.mul (f64.sqrt (local.get $vs)) (local.get $invSqrtBc2)) (local.get $eps))))))))
    (local.get $sq)))
