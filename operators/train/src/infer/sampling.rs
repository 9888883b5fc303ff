//! Choosing the next token: greedy at temperature 0, else softmax at the
//! temperature restricted to the smallest set of tokens whose probability
//! reaches `top_p` (nucleus sampling), drawn from a seeded generator.

use crate::data::SplitMix;

/// A seeded sampler for one sequence.
pub struct Sampler {
    temperature: f32,
    top_p: f32,
    rng: SplitMix,
}

impl Sampler {
    pub fn new(temperature: f32, top_p: f32, seed: u64) -> Self {
        Self { temperature: temperature.max(0.0), top_p: top_p.clamp(0.0, 1.0), rng: SplitMix::new(seed) }
    }

    /// The next token given the last position's logits.
    pub fn pick(&mut self, logits: &[f32]) -> u32 {
        if self.temperature <= 1e-6 || logits.len() < 2 {
            return argmax(logits);
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut probabilities: Vec<(u32, f32)> =
            logits.iter().enumerate().map(|(i, &l)| (i as u32, ((l - max) / self.temperature).exp())).collect();
        let total: f32 = probabilities.iter().map(|(_, p)| p).sum();
        probabilities.iter_mut().for_each(|(_, p)| *p /= total);
        probabilities.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut kept = 0;
        let mut mass = 0.0;
        for (_, p) in &probabilities {
            kept += 1;
            mass += p;
            if mass >= self.top_p {
                break;
            }
        }
        let nucleus = &probabilities[..kept.max(1)];
        let draw = (self.rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * mass.max(f32::MIN_POSITIVE);
        let mut running = 0.0;
        for &(id, p) in nucleus {
            running += p;
            if draw < running {
                return id;
            }
        }
        nucleus[nucleus.len() - 1].0
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_zero_is_greedy_and_a_seed_repeats_its_draws() {
        let logits = [0.1, 2.0, 1.9, -1.0];
        assert_eq!(Sampler::new(0.0, 1.0, 1).pick(&logits), 1);
        let draws = |seed| {
            (0..20).map(|_| 0).scan(Sampler::new(1.0, 1.0, seed), |s, _: i32| Some(s.pick(&logits))).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert!(draws(7).contains(&2), "a warm sampler does not only take the best");
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let logits = [5.0, 4.9, -5.0, -5.0];
        let mut sampler = Sampler::new(1.0, 0.5, 3);
        assert!((0..50).all(|_| sampler.pick(&logits) == 0), "only the most likely token reaches half the mass");
    }
}
