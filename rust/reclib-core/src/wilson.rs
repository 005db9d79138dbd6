//! Wilson score interval lower bound, used to rank items by a positive rate with few votes.
//!
//! For `p` positives out of `n` trials and normal quantile `z`:
//!
//! ```text
//! lower = (p + z²/2) / (n + z²)  −  z / (n + z²) · sqrt(p (n − p) / n + z²/4)
//! ```
//!
//! which is the lower end of the Wilson interval (as statsmodels' `proportion_confint(...,
//! method="wilson")`), except that `p == 0` gives exactly `0.0` (the formula leaves rounding noise
//! of about ±3e-17 there, which would order items with no positives at random) and the result
//! is clamped at 0. `n == 0` gives `0.0`. Inputs are checked first (finite, `0 ≤ p ≤ n`), and
//! the bounds are then computed in parallel; each element is independent, so the result does not
//! depend on the thread count.

use rayon::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::parallel;

/// Lower bound of the Wilson interval for one `(p, n)`; inputs must already be valid.
#[inline]
pub fn wilson_one(p: f64, n: f64, z: f64) -> f64 {
    // For p = 0 the exact value is 0, but the formula leaves rounding noise of either sign
    // (about ±3e-17); return 0 exactly so that items with no positives tie, and clamp the rest.
    if n == 0.0 || p == 0.0 {
        return 0.0;
    }
    let z2 = z * z;
    let denom = n + z2;
    let lower = (p + z2 / 2.0) / denom - z / denom * (p * (n - p) / n + z2 / 4.0).sqrt();
    if lower > 0.0 {
        lower
    } else {
        0.0
    }
}

/// Wilson lower bound of every `(positives[i], totals[i])` pair.
///
/// Errors: arrays of different lengths; `z` negative or non-finite; a non-finite value, `p < 0`
/// or `p > n` (the first offending index, naming `positives` or `totals` and both values).
pub fn wilson_lower_bound(positives: &[f64], totals: &[f64], z: f64) -> CoreResult<Vec<f64>> {
    if positives.len() != totals.len() {
        return Err(CoreError::length_mismatch(
            "positives",
            positives.len(),
            "totals",
            totals.len(),
        ));
    }
    if !(z.is_finite() && z >= 0.0) {
        return Err(CoreError::invalid("z", z, "a finite number >= 0"));
    }
    parallel::install(|| {
        let bad = (0..positives.len())
            .into_par_iter()
            .with_min_len(4096)
            .find_map_first(|i| {
                let (p, n) = (positives[i], totals[i]);
                let both = || format!("{p} (with totals[{i}] = {n})");
                if !p.is_finite() {
                    Some(CoreError::invalid_value(
                        "positives",
                        i,
                        both(),
                        "a finite number",
                    ))
                } else if !n.is_finite() {
                    Some(CoreError::invalid_value("totals", i, n, "a finite number"))
                } else if p < 0.0 {
                    Some(CoreError::invalid_value(
                        "positives",
                        i,
                        both(),
                        "a number >= 0",
                    ))
                } else if p > n {
                    Some(CoreError::invalid_value(
                        "positives",
                        i,
                        both(),
                        "at most totals[i]",
                    ))
                } else {
                    None
                }
            });
        if let Some(e) = bad {
            return Err(e);
        }
        Ok(positives
            .par_iter()
            .zip(totals)
            .with_min_len(4096)
            .map(|(&p, &n)| wilson_one(p, n, z))
            .collect())
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z95: f64 = 1.959963984540054;

    #[test]
    fn matches_statsmodels() {
        // p = 1, n = 1: z² = 3.841458820694124
        //   centre = (1 + 1.920729410347062) / 4.841458820694124 = 0.603273...
        //   half   = 1.959963984540054 / 4.841458820694124 · sqrt(0 + 0.960364705173531)
        //          = 0.404829... · 0.979982... = 0.396724...
        //   lower  = 0.206549...   (statsmodels proportion_confint(1, 1, method="wilson"))
        let got = wilson_lower_bound(&[1.0], &[1.0], Z95).unwrap();
        assert!((got[0] - 0.20654931).abs() < 1e-8, "{}", got[0]);
        // p = 0 -> centre = (z²/2)/(n+z²), half = z/(n+z²)·sqrt(z²/4) = (z²/2)/(n+z²) -> 0
        // (rounding leaves about -2.8e-17 here; the clamp makes it exactly 0)
        let got = wilson_lower_bound(&[0.0, 0.0], &[10.0, 1.0], Z95).unwrap();
        assert_eq!(got, vec![0.0, 0.0]);
        // z = 0 -> p / n exactly
        assert_eq!(wilson_lower_bound(&[3.0], &[4.0], 0.0).unwrap(), vec![0.75]);
    }

    #[test]
    fn zero_trials_and_empty() {
        assert_eq!(wilson_lower_bound(&[0.0], &[0.0], Z95).unwrap(), vec![0.0]);
        assert!(wilson_lower_bound(&[], &[], Z95).unwrap().is_empty());
    }

    #[test]
    fn bad_values_are_named() {
        let e = wilson_lower_bound(&[1.0, 3.0], &[2.0, 2.0], Z95).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`positives`[1] = 3 (with totals[1] = 2), expected at most totals[i]"
        );
        let e = wilson_lower_bound(&[-1.0], &[2.0], Z95).unwrap_err();
        assert!(e.to_string().starts_with("`positives`[0] = -1"));
        let e = wilson_lower_bound(&[1.0], &[f64::INFINITY], Z95).unwrap_err();
        assert_eq!(e.to_string(), "`totals`[0] = inf, expected a finite number");
        let e = wilson_lower_bound(&[f64::NAN], &[1.0], Z95).unwrap_err();
        assert!(e.to_string().starts_with("`positives`[0] = NaN"));
        let e = wilson_lower_bound(&[1.0], &[1.0, 2.0], Z95).unwrap_err();
        assert_eq!(e, CoreError::length_mismatch("positives", 1, "totals", 2));
        let e = wilson_lower_bound(&[1.0], &[1.0], -1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid `z`: got -1, expected a finite number >= 0"
        );
    }
}
