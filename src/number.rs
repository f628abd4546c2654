//! Number fields: captured raw on the hot path, written as text on the flusher, floats
//! without `fmt` when that is cheap and exact.
//!
//! `{:?}` on an `f64` runs the general shortest-digits algorithm, several hundred
//! instructions for a value like `3.5`. Most floats a bot records are short decimals
//! (latencies, ratios), and for those a few multiplications find the digits: the first
//! `k` for which `round(v·10ᵏ) / 10ᵏ` reads back as `v` gives the shortest decimal, which
//! is exactly what `{:?}` prints. Anything else falls back to `{:?}`.

use std::fmt::Write as _;

/// A number field captured as it came, and written as text later by the flusher: the
/// application thread stores eight bytes instead of formatting digits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Number {
    /// Appends the number as `{:?}` would.
    pub(crate) fn write(self, out: &mut String) {
        match self {
            Number::U64(v) => out.push_str(itoa::Buffer::new().format(v)),
            Number::I64(v) => out.push_str(itoa::Buffer::new().format(v)),
            Number::F64(v) => write_f64(out, v),
        }
    }
}

/// Most fraction digits the fast path tries.
const MAX_FRACTION_DIGITS: usize = 6;

/// 2⁵¹: while `v·10ᵏ` stays below it, `v`'s neighbours are less than half of `10⁻ᵏ` apart,
/// so at most one `k`-digit decimal reads back as `v` (no tie for `{:?}` to break
/// differently) and the rounding below finds it.
const LIMIT: f64 = 2_251_799_813_685_248.0;

/// 10ᵏ for `k` in `0..=MAX_FRACTION_DIGITS`, exact in `f64`.
const POW10: [f64; MAX_FRACTION_DIGITS + 1] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6];

/// Appends `value` as `{:?}` would.
pub(crate) fn write_f64(out: &mut String, value: f64) {
    if !write_short_decimal(out, value) {
        let _ = write!(out, "{value:?}");
    }
}

/// The fast path: `false` (nothing written) when `value` is not a short decimal in the range
/// where `{:?}` prints plain decimals (1e-4 ≤ |v| < 1e16, or zero).
fn write_short_decimal(out: &mut String, value: f64) -> bool {
    let magnitude = value.abs();
    if !(magnitude == 0.0 || (1e-4..LIMIT).contains(&magnitude)) {
        return false;
    }
    for (k, &scale) in POW10.iter().enumerate() {
        let scaled = magnitude * scale;
        if scaled >= LIMIT {
            return false;
        }
        // Rounded by truncation after adding a half (one instruction, where `round` is a
        // library call on baseline x86-64); below 2^51 the error stays under a half.
        let n = (scaled + 0.5) as u64;
        // Division of two exact integers is correctly rounded: this is the f64 that the
        // decimal `n / 10^k` parses to.
        if n as f64 / scale != magnitude {
            continue;
        }
        if value.is_sign_negative() {
            out.push('-');
        }
        let mut buffer = itoa::Buffer::new();
        let digits = buffer.format(n);
        if k == 0 {
            out.push_str(digits);
            out.push_str(".0");
        } else if digits.len() > k {
            let (whole, fraction) = digits.split_at(digits.len() - k);
            out.push_str(whole);
            out.push('.');
            out.push_str(fraction);
        } else {
            out.push_str("0.");
            for _ in digits.len()..k {
                out.push('0');
            }
            out.push_str(digits);
        }
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shown(v: f64) -> String {
        let mut s = String::new();
        write_f64(&mut s, v);
        s
    }

    #[test]
    fn numbers_print_as_debug_does() {
        let mut s = String::new();
        for n in [
            Number::U64(u64::MAX),
            Number::I64(i64::MIN),
            Number::F64(-0.0),
        ] {
            n.write(&mut s);
            s.push(' ');
        }
        assert_eq!(s, format!("{} {} {:?} ", u64::MAX, i64::MIN, -0.0f64));
    }

    #[test]
    fn common_values_print_as_debug_does() {
        for v in [
            3.5,
            42.0,
            0.0,
            -0.0,
            0.1,
            0.05,
            41.5,
            1e15,
            1e16,
            1e-4,
            1e-5,
            123.456,
            -7.25,
            -705_798_805_931_015.2,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
            0.30000000000000004,
            1.0 / 3.0,
        ] {
            assert_eq!(shown(v), format!("{v:?}"), "{v:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        #[test]
        fn floats_in_the_fast_range_print_as_debug_does(v in -1e16f64..1e16) {
            prop_assert_eq!(shown(v), format!("{v:?}"));
        }

        #[test]
        fn any_float_prints_as_debug_does(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assert_eq!(shown(v), format!("{v:?}"));
        }

        #[test]
        fn short_decimals_print_as_debug_does(n in -10_000_000_000i64..10_000_000_000, k in 0u32..8) {
            let v = n as f64 / 10f64.powi(k as i32);
            prop_assert_eq!(shown(v), format!("{v:?}"));
        }
    }
}
