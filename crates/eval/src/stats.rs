//! Summary statistics of error samples.
//!
//! Percentiles interpolate linearly between order statistics, exactly as numpy's default
//! (`method="linear"`): for n sorted values x₀ ≤ … ≤ xₙ₋₁ the p-th percentile is at rank
//! h = (n − 1)·p/100, and equals x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋₊₁ − x⌊h⌋). The median is the 50th
//! percentile. RMSE is √(Σx²/n); the standard deviation is the population one (ddof = 0).

use serde::Serialize;

/// The p-th percentile (0 ≤ p ≤ 100) of values sorted ascending; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = last as f64 * p.clamp(0.0, 100.0) / 100.0;
    let below = rank.floor() as usize;
    let above = (below + 1).min(last);
    Some(sorted[below] + (rank - below as f64) * (sorted[above] - sorted[below]))
}

/// Statistics of one error quantity over a set of fixes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub median: f64,
    pub rmse: f64,
    pub std: f64,
    pub p68: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// The statistics of `values`, or `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Summary> {
        let mut sorted: Vec<f64> = values.into_iter().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let sum_squares = sorted.iter().map(|v| v * v).sum::<f64>();
        let variance = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let at = |p| percentile(&sorted, p).expect("not empty");
        Some(Summary {
            count: sorted.len(),
            mean,
            median: at(50.0),
            rmse: (sum_squares / n).sqrt(),
            std: variance.sqrt(),
            p68: at(68.0),
            p95: at(95.0),
            p99: at(99.0),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }

    /// The same statistics in other units (every field but `count` is multiplied).
    pub fn scaled(&self, factor: f64) -> Summary {
        Summary {
            count: self.count,
            mean: self.mean * factor,
            median: self.median * factor,
            rmse: self.rmse * factor,
            std: self.std * factor,
            p68: self.p68 * factor,
            p95: self.p95 * factor,
            p99: self.p99 * factor,
            min: self.min * factor,
            max: self.max * factor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_order_statistics() {
        // numpy.percentile([1, 2, 3, 4, 10], [50, 68, 95, 99]) = [3, 3.72, 8.8, 9.76]
        let sorted = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&sorted, 50.0), Some(3.0));
        assert!((percentile(&sorted, 68.0).unwrap() - 3.72).abs() < 1e-12);
        assert!((percentile(&sorted, 95.0).unwrap() - 8.8).abs() < 1e-12);
        assert!((percentile(&sorted, 99.0).unwrap() - 9.76).abs() < 1e-12);
        assert_eq!(percentile(&sorted, 100.0), Some(10.0));
        assert_eq!(percentile(&sorted, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
    }

    proptest::proptest! {
        #[test]
        fn percentiles_rise_with_p_and_stay_within_the_data(
            mut values in proptest::collection::vec(-1e3f64..1e3, 1..60), p in 0.0f64..100.0, q in 0.0f64..100.0,
        ) {
            values.sort_by(f64::total_cmp);
            let (low, high) = (percentile(&values, p.min(q)).unwrap(), percentile(&values, p.max(q)).unwrap());
            // Within rounding: a + f·(b − a) may land an ulp past b.
            let slack = 1e-9;
            proptest::prop_assert!(values[0] - slack <= low && low <= high + slack);
            proptest::prop_assert!(high <= values[values.len() - 1] + slack);
        }
    }

    #[test]
    fn summary_of_unsorted_values() {
        // Even count: the median is halfway between the middle two.
        let s = Summary::of([4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(s.median, 2.5);
        assert_eq!(s.mean, 2.5);
        assert!((s.rmse - (30.0f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-12);
        // rank 0.68·3 = 2.04 → 3 + 0.04·(4 − 3)
        assert!((s.p68 - 3.04).abs() < 1e-12);
        assert_eq!((s.min, s.max), (1.0, 4.0));
        assert!(Summary::of(std::iter::empty()).is_none());
    }
}
