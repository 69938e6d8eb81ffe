//! Renames an export of a WebAssembly module, to set the Proxy-Wasm ABI version it declares.
//!
//! Why: Higress's proxy-wasm host turns a paused request-headers callback into "stop all
//! iteration" (the body then never reaches the filter until it resumes) for modules of ABI
//! 0.2.0/0.2.1, and keeps it a plain pause for modules of ABI 0.2.100, Higress's extension that
//! its own Go plugins declare. The `proxy-wasm` crate exports `proxy_abi_version_0_2_1`; the
//! higress build renames that export to `proxy_abi_version_0_2_100`, so a plugin can hold the
//! request headers while it reads the body. Stock Envoy does not know ABI 0.2.100, so the envoy
//! build keeps 0.2.1. Nothing else differs between the two ABIs in Higress's host.
//!
//! The module is read section by section; only the export section is rewritten.

/// The export the `proxy-wasm` crate declares.
pub const ABI_0_2_1: &str = "proxy_abi_version_0_2_1";
/// Higress's ABI extension.
pub const ABI_0_2_100: &str = "proxy_abi_version_0_2_100";

const EXPORT_SECTION: u8 = 7;

/// Why a module could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    /// Not a WebAssembly binary module.
    #[error("not a WebAssembly module (bad magic or version)")]
    NotWasm,
    /// The binary ends inside a section or a name.
    #[error("malformed module at byte {0}")]
    Malformed(usize),
    /// No export has the name to rename.
    #[error("no export named {0}")]
    NoSuchExport(String),
}

/// Reads an unsigned LEB128 number at `*pos`.
fn read_u32(bytes: &[u8], pos: &mut usize) -> Result<u32, AbiError> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*pos).ok_or(AbiError::Malformed(*pos))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return u32::try_from(value).map_err(|_| AbiError::Malformed(*pos));
        }
    }
    Err(AbiError::Malformed(*pos))
}

fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn slice(bytes: &[u8], start: usize, len: usize) -> Result<&[u8], AbiError> {
    let end = start.checked_add(len).ok_or(AbiError::Malformed(start))?;
    bytes.get(start..end).ok_or(AbiError::Malformed(start))
}

/// The names of `module`'s exports, in order.
pub fn export_names(module: &[u8]) -> Result<Vec<String>, AbiError> {
    let mut names = Vec::new();
    for_each_section(module, |id, body| {
        if id == EXPORT_SECTION {
            for (name, _) in exports(body)? {
                names.push(String::from_utf8_lossy(name).into_owned());
            }
        }
        Ok(())
    })?;
    Ok(names)
}

/// `module` with export `from` renamed to `to`.
pub fn rename_export(module: &[u8], from: &str, to: &str) -> Result<Vec<u8>, AbiError> {
    let mut out = Vec::with_capacity(module.len() + to.len());
    out.extend_from_slice(module.get(..8).ok_or(AbiError::NotWasm)?);
    let mut renamed = false;
    for_each_section(module, |id, body| {
        out.push(id);
        if id != EXPORT_SECTION {
            write_u32(
                &mut out,
                u32::try_from(body.len()).map_err(|_| AbiError::Malformed(0))?,
            );
            out.extend_from_slice(body);
            return Ok(());
        }
        let entries = exports(body)?;
        let mut section = Vec::with_capacity(body.len() + to.len());
        write_u32(&mut section, entries.len() as u32);
        for (name, rest) in entries {
            let name = if name == from.as_bytes() {
                renamed = true;
                to.as_bytes()
            } else {
                name
            };
            write_u32(&mut section, name.len() as u32);
            section.extend_from_slice(name);
            section.extend_from_slice(rest);
        }
        write_u32(&mut out, section.len() as u32);
        out.extend_from_slice(&section);
        Ok(())
    })?;
    if renamed {
        Ok(out)
    } else {
        Err(AbiError::NoSuchExport(from.to_owned()))
    }
}

/// Calls `f(id, body)` for every section, in order.
fn for_each_section(
    module: &[u8],
    mut f: impl FnMut(u8, &[u8]) -> Result<(), AbiError>,
) -> Result<(), AbiError> {
    if module.get(..8) != Some(b"\0asm\x01\0\0\0") {
        return Err(AbiError::NotWasm);
    }
    let mut pos = 8;
    while let Some(&id) = module.get(pos) {
        pos += 1;
        let len = read_u32(module, &mut pos)? as usize;
        let body = slice(module, pos, len)?;
        pos += len;
        f(id, body)?;
    }
    Ok(())
}

/// One export entry: its name, and the kind byte and index that follow it.
type ExportEntry<'a> = (&'a [u8], &'a [u8]);

/// The export entries of an export section.
fn exports(body: &[u8]) -> Result<Vec<ExportEntry<'_>>, AbiError> {
    let mut pos = 0;
    let count = read_u32(body, &mut pos)?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let len = read_u32(body, &mut pos)? as usize;
        let name = slice(body, pos, len)?;
        pos += len;
        let rest_start = pos;
        pos += 1; // kind
        read_u32(body, &mut pos)?; // index
        entries.push((name, slice(body, rest_start, pos - rest_start)?));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with one function exported as `proxy_abi_version_0_2_1` and as `memory`-like
    /// other names, plus a custom section after the exports.
    fn module() -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        m.extend_from_slice(&[3, 2, 1, 0]); // function section
        let mut exports = vec![2];
        for name in [ABI_0_2_1, "other"] {
            exports.push(name.len() as u8);
            exports.extend_from_slice(name.as_bytes());
            exports.extend_from_slice(&[0, 0]);
        }
        m.push(7);
        m.push(exports.len() as u8);
        m.extend_from_slice(&exports);
        m.extend_from_slice(&[10, 4, 1, 2, 0, 0x0b]); // code section
        m.extend_from_slice(&[0, 3, 1, b'x', 9]); // custom section
        m
    }

    #[test]
    fn the_abi_export_is_renamed_and_everything_else_kept() {
        let renamed = rename_export(&module(), ABI_0_2_1, ABI_0_2_100).unwrap();
        assert_eq!(export_names(&renamed).unwrap(), [ABI_0_2_100, "other"]);
        assert!(renamed.ends_with(&[10, 4, 1, 2, 0, 0x0b, 0, 3, 1, b'x', 9]));
        let back = rename_export(&renamed, ABI_0_2_100, ABI_0_2_1).unwrap();
        assert_eq!(back, module());
    }

    #[test]
    fn a_missing_export_or_a_broken_module_is_an_error() {
        assert_eq!(
            rename_export(&module(), "absent", "x"),
            Err(AbiError::NoSuchExport("absent".into()))
        );
        assert_eq!(rename_export(b"nope", "a", "b"), Err(AbiError::NotWasm));
        let m = module();
        let export_section = m.iter().position(|&b| b == 7).unwrap();
        for cut in 9..m.len() {
            // Never a panic; a cut inside the export section is malformed.
            let result = rename_export(&m[..cut], ABI_0_2_1, ABI_0_2_100);
            if cut > export_section && cut < export_section + 2 + m[export_section + 1] as usize {
                assert!(matches!(result, Err(AbiError::Malformed(_))), "cut {cut}");
            }
        }
    }
}
