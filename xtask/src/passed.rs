//! Steps that passed, remembered with a digest of everything they depend on, so that a re-run
//! of `cargo xtask test` with nothing changed skips them (`--force` runs them all anyway).
//!
//! The digest covers every file git knows of or would add (`git ls-files --cached --others
//! --exclude-standard`: sources, manifests, `Cargo.lock`, READMEs), by path and content, plus
//! what the step names besides (the eBPF toolchain, the kernel it runs on). A file that changes,
//! appears or disappears changes it. Without git nothing is remembered and every step runs. A
//! fresh clone (CI) has nothing remembered either.

use std::{
    hash::{DefaultHasher, Hash as _, Hasher as _},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

/// The digest of the workspace's files, and where passed steps are written down.
pub(crate) struct Passed {
    sources: Option<u64>,
    dir: PathBuf,
    force: bool,
}

impl Passed {
    /// Digests the files of the workspace at `root`; the record lives in `target_dir`.
    pub(crate) fn new(root: &Path, target_dir: &Path, force: bool) -> Result<Self> {
        Ok(Self {
            sources: sources_digest(root)?,
            dir: target_dir.join("xtask-passed"),
            force,
        })
    }

    /// The key of `step` with `inputs` besides the sources; `None` when nothing can be
    /// remembered (no git).
    pub(crate) fn key(&self, step: &str, inputs: &[&str]) -> Option<Key> {
        let mut hasher = DefaultHasher::new();
        (self.sources?, step, inputs).hash(&mut hasher);
        Some(Key {
            file: self.dir.join(step_file(step)),
            digest: format!("{:016x}", hasher.finish()),
        })
    }

    /// Whether `key` passed before (and `--force` was not given): then the step is skipped,
    /// and says so.
    pub(crate) fn skip(&self, key: Option<&Key>, step: &str) -> bool {
        let Some(key) = key else {
            return false;
        };
        let passed = !self.force
            && std::fs::read_to_string(&key.file).is_ok_and(|text| text.trim() == key.digest);
        if passed {
            eprintln!("==> {step}: passed before with these sources (`--force` runs it again)");
        }
        passed
    }

    /// Writes down that the step of `key` passed.
    pub(crate) fn record(&self, key: Option<&Key>) -> Result<()> {
        let Some(key) = key else {
            return Ok(());
        };
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        std::fs::write(&key.file, &key.digest)
            .with_context(|| format!("cannot write {}", key.file.display()))
    }
}

/// A step with its inputs' digest.
pub(crate) struct Key {
    file: PathBuf,
    digest: String,
}

/// The step's name as a file name: letters and digits kept, the rest `_`.
fn step_file(step: &str) -> String {
    step.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The digest of every file git knows of or would add under `root`, `None` without git.
fn sources_digest(root: &Path) -> Result<Option<u64>> {
    let Ok(output) = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
    else {
        return Ok(None);
    };
    if !output.status.success() {
        return Ok(None);
    }
    let mut files: Vec<&[u8]> = output
        .stdout
        .split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .collect();
    files.sort_unstable();
    let mut hasher = DefaultHasher::new();
    for file in files {
        let path = root.join(std::str::from_utf8(file).context("a file name is not UTF-8")?);
        file.hash(&mut hasher);
        // Deleted but still in the index: its absence is part of the digest.
        match std::fs::read(&path) {
            Ok(bytes) => bytes.hash(&mut hasher),
            Err(_) => 0u8.hash(&mut hasher),
        }
    }
    Ok(Some(hasher.finish()))
}
