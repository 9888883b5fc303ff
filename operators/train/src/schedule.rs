//! The learning rate: linear warm-up, then cosine decay to a floor.

/// The learning rate of optimizer step `step` (0-based) of `total`.
pub fn learning_rate(step: u64, total: u64, peak: f64, warmup: u64, min_ratio: f64) -> f64 {
    if warmup > 0 && step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let decay = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup.min(step)) as f64 / decay).min(1.0);
    let floor = peak * min_ratio;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::learning_rate;

    #[test]
    fn warms_up_then_decays_to_the_floor() {
        let lr = |s| learning_rate(s, 110, 1e-3, 10, 0.1);
        assert!((lr(0) - 1e-4).abs() < 1e-12);
        assert!((lr(9) - 1e-3).abs() < 1e-12);
        assert!((lr(10) - 1e-3).abs() < 1e-12);
        assert!((lr(60) - 5.5e-4).abs() < 1e-9, "half way down: {}", lr(60));
        assert!((lr(110) - 1e-4).abs() < 1e-12);
        assert!(lr(30) > lr(31));
    }
}
