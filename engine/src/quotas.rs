//! What an ordinary account's configs may ask of the server: checked by the
//! API when a pipeline is stored, run or scheduled, and by the engine when
//! each attempt starts (params and schedules can change sizes after the
//! first check). Trusted runs are not bound by them.

use hangar_sdk::Demands;

/// The limits; the binary reads them from `HANGAR_MAX_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Threads one task may ask for (`workers`, `threads`): default the cores.
    pub threads: u64,
    /// Parameters of a model trained from scratch.
    pub model_parameters: u64,
    /// Sequences one training task may process (steps × batch × accumulation).
    pub training_sequences: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get() as u64),
            model_parameters: 200_000_000,
            training_sequences: 1_000_000,
        }
    }
}

impl Quotas {
    /// Each demand over its limit: the field and a message naming the limit
    /// and the variable that sets it.
    pub fn excess(&self, demands: &Demands) -> Vec<(Vec<String>, String)> {
        let mut over = Vec::new();
        let mut check = |demand: &Option<(Vec<String>, u64)>, limit: u64, what: &str, variable: &str| {
            if let Some((field, asked)) = demand
                && *asked > limit
            {
                over.push((
                    field.clone(),
                    format!(
                        "asks for {asked} {what}, over this server's limit of {limit} ({variable}); \
                         lower it, or ask an administrator to run it"
                    ),
                ));
            }
        };
        check(&demands.threads, self.threads, "threads", "HANGAR_MAX_THREADS");
        check(&demands.model_parameters, self.model_parameters, "model parameters", "HANGAR_MAX_MODEL_PARAMETERS");
        check(
            &demands.training_sequences,
            self.training_sequences,
            "training sequences (steps × batch_size × grad_accumulation)",
            "HANGAR_MAX_TRAINING_SEQUENCES",
        );
        over
    }
}

#[cfg(test)]
mod tests {
    use hangar_sdk::field;

    use super::*;

    #[test]
    fn each_demand_over_its_limit_names_the_limit() {
        let quotas = Quotas { threads: 2, model_parameters: 1000, training_sequences: 50 };
        let demands = Demands {
            threads: Some((field(&["workers"]), 100_000)),
            model_parameters: Some((field(&["model"]), 999)),
            training_sequences: Some((field(&["steps"]), 51)),
            ..Demands::default()
        };
        let over = quotas.excess(&demands);
        assert_eq!(over.len(), 2, "{over:?}");
        assert_eq!(over[0].0, ["workers"]);
        assert!(over[0].1.contains("100000 threads") && over[0].1.contains("HANGAR_MAX_THREADS"), "{}", over[0].1);
        assert!(over[1].1.contains("HANGAR_MAX_TRAINING_SEQUENCES"), "{}", over[1].1);
        assert!(quotas.excess(&Demands::default()).is_empty());
    }
}
