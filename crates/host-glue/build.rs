//! Records the git commit so every plugin can say at VM start which build is loaded.
use std::process::Command;

fn main() {
    let hash = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HOST_GLUE_GIT_HASH={hash}");
    println!(
        "cargo:rustc-env=HOST_GLUE_PROFILE={}",
        std::env::var("PROFILE").unwrap_or_default()
    );
    // Rebuild when the checked-out commit changes.
    if let Ok(head) = std::fs::read_to_string("../../.git/HEAD") {
        println!("cargo:rerun-if-changed=../../.git/HEAD");
        if let Some(reference) = head.strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=../../.git/{}", reference.trim());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
