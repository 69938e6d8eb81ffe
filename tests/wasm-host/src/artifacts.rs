//! Locating (and building) plugin `.wasm` files for tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::error::VmError;

/// The Rust target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip1";

static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);

/// Root of the Cargo workspace this crate lives in.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("..").join("..");
    root.canonicalize().unwrap_or(root)
}

/// The workspace's target directory (`$CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Path of a workspace package's release `.wasm`, building it first.
///
/// - `$<PACKAGE>_WASM` (package name upper-cased, `-` → `_`, e.g.
///   `TEST_FILTER_WASM`) overrides everything and is used as is.
/// - Otherwise `cargo build --release --target wasm32-wasip1 -p <package>`
///   runs once per test process (a no-op when up to date, and it keeps the
///   artifact from going stale), then
///   `target/wasm32-wasip1/release/<package_with_underscores>.wasm` is
///   returned. Set `WASM_HOST_NO_BUILD=1` to skip the build when the file
///   already exists.
pub fn wasm_artifact(package: &str) -> Result<PathBuf, VmError> {
    let var = format!("{}_WASM", package.to_ascii_uppercase().replace('-', "_"));
    if let Some(path) = std::env::var_os(&var) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(VmError::Setup(format!(
                "${var} = {} is not a file",
                path.display()
            )));
        }
        return Ok(path);
    }
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(package) {
        return Ok(path.clone());
    }
    let path = target_dir()
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    let skip = std::env::var_os("WASM_HOST_NO_BUILD").is_some() && path.is_file();
    if !skip {
        build(package)?;
    }
    if !path.is_file() {
        return Err(VmError::Setup(format!(
            "built {package} but {} does not exist",
            path.display()
        )));
    }
    built.insert(package.to_string(), path.clone());
    Ok(path)
}

/// The test filter used by this crate's own tests.
pub fn test_filter_wasm() -> Result<PathBuf, VmError> {
    wasm_artifact("test-filter")
}

fn build(package: &str) -> Result<(), VmError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .current_dir(workspace_root())
        .args(["build", "--release", "--target", WASM_TARGET, "-p", package])
        .output()
        .map_err(|e| VmError::Setup(format!("running cargo: {e}")))?;
    if !output.status.success() {
        return Err(VmError::Setup(format!(
            "cargo build --release --target {WASM_TARGET} -p {package} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(())
}
