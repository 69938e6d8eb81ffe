//! `set-abi-0-2-100 FILE...`: makes each Proxy-Wasm module declare ABI 0.2.100 (see the crate
//! docs), in place. A module that already does is left as it is.

use std::process::ExitCode;
use wasm_abi::{export_names, rename_export, ABI_0_2_1, ABI_0_2_100};

fn run(path: &str) -> Result<&'static str, String> {
    let module = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let names = export_names(&module).map_err(|e| format!("{path}: {e}"))?;
    if names.iter().any(|n| n == ABI_0_2_100) && !names.iter().any(|n| n == ABI_0_2_1) {
        return Ok("already 0.2.100");
    }
    let renamed =
        rename_export(&module, ABI_0_2_1, ABI_0_2_100).map_err(|e| format!("{path}: {e}"))?;
    std::fs::write(path, renamed).map_err(|e| format!("{path}: {e}"))?;
    Ok("now 0.2.100")
}

fn main() -> ExitCode {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        match run(&path) {
            Ok(what) => println!("{path}: ABI {what}"),
            Err(error) => {
                eprintln!("set-abi-0-2-100: {error}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
