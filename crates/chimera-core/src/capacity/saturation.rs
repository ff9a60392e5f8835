//! The saturation point of a latency–throughput curve, as a pure function: the last level
//! before throughput stops rising while latency rises.

/// One point of the curve: offered level, achieved throughput, a latency (e.g. session p50).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub level: f64,
    pub throughput: f64,
    pub latency: f64,
}

/// Throughput "stops rising" when the next level adds less than this fraction.
pub const FLAT_GAIN: f64 = 0.05;
/// Latency "rises" when the next level's is more than this fraction higher.
pub const LATENCY_RISE: f64 = 0.10;

/// The saturation level: the first level `i` (in ascending order of level) whose next level
/// gains less than [`FLAT_GAIN`] of throughput while its latency rises by more than
/// [`LATENCY_RISE`]. `None` when the curve never flattens that way.
pub fn saturation(points: &[CurvePoint]) -> Option<f64> {
    let mut p: Vec<CurvePoint> = points.iter().copied().filter(|x| x.throughput.is_finite()).collect();
    p.sort_by(|a, b| a.level.total_cmp(&b.level));
    p.windows(2)
        .find(|w| {
            w[1].throughput < w[0].throughput * (1.0 + FLAT_GAIN)
                && w[1].latency > w[0].latency * (1.0 + LATENCY_RISE)
        })
        .map(|w| w[0].level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(level: f64, throughput: f64, latency: f64) -> CurvePoint {
        CurvePoint { level, throughput, latency }
    }

    #[test]
    fn saturation_by_hand() {
        // A one-slot server of 0.1 s: throughput follows the offered rate up to 10/s, then
        // stays there while latency climbs. Points given out of order.
        let curve = [
            pt(16.0, 10.0, 2.0),
            pt(2.0, 2.0, 0.1),
            pt(8.0, 8.0, 0.1),
            pt(12.0, 10.0, 1.0),
            pt(10.0, 9.9, 0.2),
        ];
        // 8 → 10: +24 % throughput (rising). 10 → 12: +1 % with latency ×5 → saturated at 10.
        assert_eq!(saturation(&curve), Some(10.0));
        // Throughput still rising everywhere: no saturation.
        assert_eq!(saturation(&[pt(1.0, 1.0, 0.1), pt(2.0, 2.0, 0.3)]), None);
        // Flat throughput with flat latency (an idle plateau) is not saturation.
        assert_eq!(saturation(&[pt(1.0, 1.0, 0.1), pt(2.0, 1.0, 0.105)]), None);
        assert_eq!(saturation(&[]), None);
    }
}
