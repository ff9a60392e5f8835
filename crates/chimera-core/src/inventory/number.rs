//! Decimal text to `f64`, exactly as `str::parse` reads it: short plain decimals (`-12.5`,
//! at most 15 digits, no exponent) by one exact division, everything else by `str::parse`.

/// `s.parse::<f64>().ok()`, faster for short plain decimals (tested bit for bit against it).
pub fn parse(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (negative, rest) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let (mut significand, mut digits, mut int_digits, mut frac_digits, mut dot) = (0u64, 0, 0, 0, false);
    for &c in rest {
        match c {
            b'0'..=b'9' if digits < 15 => {
                significand = significand * 10 + u64::from(c - b'0');
                digits += 1;
                if dot {
                    frac_digits += 1;
                } else {
                    int_digits += 1;
                }
            }
            b'.' if !dot => dot = true,
            _ => return s.parse().ok(),
        }
    }
    if int_digits == 0 || (dot && frac_digits == 0) {
        return s.parse().ok();
    }
    // Both operands are exact (below 2^53, and 10^k for k ≤ 15), so the quotient is correctly
    // rounded: the value `str::parse` gives.
    const POW10: [f64; 16] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let magnitude = significand as f64 / POW10[frac_digits];
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_bits_as_str_parse() {
        let mut r = crate::testrng::Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet = ["0", "1", "5", "9", "7", ".", "-", "+", "e", "3", "0", "2"];
        for _ in 0..300_000 {
            let len = 1 + r.below(20);
            let s: String = (0..len).map(|_| *r.pick(&alphabet)).collect();
            let want = s.parse::<f64>().ok();
            assert_eq!(super::parse(&s).map(f64::to_bits), want.map(f64::to_bits), "{s:?}");
        }
        for s in [
            "",
            "-",
            ".",
            "1.",
            ".5",
            "-0",
            "0.1",
            "123456789012345",
            "1234567890123456",
            "inf",
            "NaN",
            "1e5",
            " 1",
        ] {
            assert_eq!(super::parse(s).map(f64::to_bits), s.parse::<f64>().ok().map(f64::to_bits), "{s:?}");
        }
    }
}
