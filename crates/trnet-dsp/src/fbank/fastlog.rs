//! Natural log of a block of f32, written so the compiler vectorizes it (libm's logf is a call per value and
//! was the largest single cost after the FFT). Cephes' logf polynomial: within ~1 ulp of `f32::ln` for
//! normal positive inputs, far below the 1e-3 parity tolerance.

const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// ln(x) for a normal, positive, finite x.
#[inline(always)]
fn ln_normal(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) as i32 - 126) as f32;
    // Mantissa in [0.5, 1); folded into [sqrt(0.5), sqrt(2)) so the polynomial argument stays small.
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < SQRT_HALF;
    e = if small { e - 1.0 } else { e };
    m = if small { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    let mut y = 7.037_683_6e-2_f32;
    y = y * m - 1.151_461e-1;
    y = y * m + 1.167_699_9e-1;
    y = y * m - 1.242_014_1e-1;
    y = y * m + 1.424_932_3e-1;
    y = y * m - 1.666_805_8e-1;
    y = y * m + 2.000_071_5e-1;
    y = y * m - 2.499_999_4e-1;
    y = y * m + 3.333_333e-1;
    y *= m * z;
    // ln 2 split in two parts (0.693359375 is exact in few bits) to keep e * ln2 accurate.
    y += -2.121_944_4e-4 * e;
    y += -0.5 * z;
    m + y + 0.693_359_4 * e
}

/// `out[i] = ln(max(x[i], floor))`, exactly like `x.max(floor).ln()` up to ~1 ulp. `floor` must be a
/// positive normal number; values that are not finite after flooring (inf, NaN) go through `f32::ln`.
#[inline(always)]
pub(crate) fn ln_floored(x: &[f32], floor: f32, out: &mut [f32]) {
    debug_assert!(floor.is_normal() && floor > 0.0);
    let mut odd = false;
    for (o, &v) in out.iter_mut().zip(x) {
        let v = v.max(floor);
        odd |= !v.is_finite();
        *o = ln_normal(v);
    }
    if odd {
        for (o, &v) in out.iter_mut().zip(x) {
            let v = v.max(floor);
            if !v.is_finite() {
                *o = v.ln();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_std_ln() {
        let mut xs = Vec::new();
        let mut x = f32::EPSILON;
        while x < 1e30 {
            xs.push(x);
            x *= 1.000_37;
        }
        xs.extend([1.0, 2.0, 0.5, std::f32::consts::E, SQRT_HALF, std::f32::consts::SQRT_2, f32::MAX]);
        let mut out = vec![0.0; xs.len()];
        ln_floored(&xs, f32::EPSILON, &mut out);
        for (&x, &y) in xs.iter().zip(&out) {
            let want = (x as f64).ln();
            let err = (y as f64 - want).abs();
            // A few ulps of the result (|ln| up to ~70 here), and near ln(1) = 0 an absolute 1e-7.
            assert!(err <= 4.0 * f32::EPSILON as f64 * want.abs().max(1.0), "ln({x}) = {y}, want {want}");
        }
        assert_eq!(out[xs.len() - 7], 0.0, "ln(1) is exactly 0");
    }

    #[test]
    fn floors_and_non_finite() {
        let mut out = [0.0; 4];
        ln_floored(&[0.0, -3.0, f32::INFINITY, f32::NAN], f32::EPSILON, &mut out);
        assert_eq!(out[0], f32::EPSILON.ln());
        assert_eq!(out[1], f32::EPSILON.ln());
        assert_eq!(out[2], f32::INFINITY);
        // NaN.max(floor) is the floor in Rust (and torch.max with a NaN gives NaN; input NaNs are rejected
        // before this point, so only the floor matters here).
        assert_eq!(out[3], f32::EPSILON.ln());
    }
}
