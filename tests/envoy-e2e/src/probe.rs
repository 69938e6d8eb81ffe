//! A minimal Proxy-Wasm module assembled byte by byte, so the Wasm filter
//! plumbing (rendering, V8 loading, log capture) can be tested without the
//! real plugins being built.
//!
//! The module exports `proxy_abi_version_0_2_1`, `memory`, a bump `malloc`,
//! `proxy_on_context_create`, `proxy_on_vm_start` (returns true) and
//! `proxy_on_configure`, which calls `proxy_log(info, line)` and returns
//! true. It handles no HTTP callbacks, so requests pass through untouched.

/// Proxy-Wasm log level `info`.
const LOG_INFO: u8 = 2;
/// Where the log line lives in linear memory.
const LINE_ADDR: u32 = 1024;
/// Start of the bump allocator's heap.
const HEAP_START: u32 = 8192;

fn leb_u32(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Signed LEB128 for `i32.const` immediates.
fn leb_i32(mut v: i32, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn name(s: &str, out: &mut Vec<u8>) {
    leb_u32(s.len() as u32, out);
    out.extend_from_slice(s.as_bytes());
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb_u32(body.len() as u32, out);
    out.extend_from_slice(body);
}

fn vec_of(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    leb_u32(items.len() as u32, &mut out);
    for i in items {
        out.extend_from_slice(i);
    }
    out
}

fn i32_const(v: u32) -> Vec<u8> {
    let mut out = vec![0x41];
    leb_i32(v as i32, &mut out);
    out
}

/// A function body: no locals, then `code`, then `end`.
fn body(code: &[u8]) -> Vec<u8> {
    let mut inner = vec![0x00];
    inner.extend_from_slice(code);
    inner.push(0x0b);
    let mut out = Vec::new();
    leb_u32(inner.len() as u32, &mut out);
    out.extend(inner);
    out
}

/// The module; `proxy_on_configure` logs `line` at info level.
pub fn probe_module(line: &str) -> Vec<u8> {
    const I32: u8 = 0x7f;
    const FUNC: u8 = 0x60;
    let mut m = b"\0asm\x01\0\0\0".to_vec();

    // Types: 0 ()->(), 1 (i32)->i32, 2 (i32,i32)->(), 3 (i32,i32)->i32,
    // 4 (i32,i32,i32)->i32.
    let types = vec_of(&[
        vec![FUNC, 0, 0],
        vec![FUNC, 1, I32, 1, I32],
        vec![FUNC, 2, I32, I32, 0],
        vec![FUNC, 2, I32, I32, 1, I32],
        vec![FUNC, 3, I32, I32, I32, 1, I32],
    ]);
    section(1, &types, &mut m);

    // Import 0: env.proxy_log(level, ptr, len) -> status.
    let mut import = Vec::new();
    name("env", &mut import);
    name("proxy_log", &mut import);
    import.extend_from_slice(&[0x00, 4]);
    section(2, &vec_of(&[import]), &mut m);

    // Functions 1..=5.
    section(
        3,
        &vec_of(&[vec![0], vec![1], vec![2], vec![3], vec![3]]),
        &mut m,
    );

    // One memory of 1 page minimum.
    section(5, &vec_of(&[vec![0x00, 1]]), &mut m);

    // Global 0: mutable i32 heap pointer.
    let mut global = vec![I32, 0x01];
    global.extend(i32_const(HEAP_START));
    global.push(0x0b);
    section(6, &vec_of(&[global]), &mut m);

    let export = |n: &str, kind: u8, index: u8| {
        let mut e = Vec::new();
        name(n, &mut e);
        e.extend_from_slice(&[kind, index]);
        e
    };
    let exports = vec_of(&[
        export("memory", 0x02, 0),
        export("proxy_abi_version_0_2_1", 0x00, 1),
        export("malloc", 0x00, 2),
        export("proxy_on_context_create", 0x00, 3),
        export("proxy_on_vm_start", 0x00, 4),
        export("proxy_on_configure", 0x00, 5),
    ]);
    section(7, &exports, &mut m);

    // malloc(size): grows memory when needed, returns the old pointer.
    // global.get 0; global.get 0; local.get 0; i32.add; global.set 0;
    // then if (pointer >> 16) >= memory.size: memory.grow(needed) drop.
    let mut malloc = vec![0x23, 0, 0x23, 0, 0x20, 0, 0x6a, 0x24, 0];
    malloc.extend_from_slice(&[0x23, 0]);
    malloc.extend(i32_const(16));
    malloc.extend_from_slice(&[0x76, 0x3f, 0x00, 0x4f]); // i32.shr_u, memory.size, i32.ge_u
    malloc.extend_from_slice(&[0x04, 0x40]); // if (no result)
    malloc.extend_from_slice(&[0x23, 0]);
    malloc.extend(i32_const(16));
    malloc.extend_from_slice(&[0x76]); // needed pages index
    malloc.extend_from_slice(&[0x3f, 0x00, 0x6b]); // minus memory.size
    malloc.extend(i32_const(1));
    malloc.extend_from_slice(&[0x6a, 0x40, 0x00, 0x1a, 0x0b]); // +1, memory.grow, drop, end

    let mut configure = vec![];
    configure.extend(i32_const(u32::from(LOG_INFO)));
    configure.extend(i32_const(LINE_ADDR));
    configure.extend(i32_const(line.len() as u32));
    configure.extend_from_slice(&[0x10, 0x00, 0x1a]); // call proxy_log, drop
    configure.extend(i32_const(1));

    let code = vec_of(&[
        body(&[]),
        body(&malloc),
        body(&[]),
        body(&i32_const(1)),
        body(&configure),
    ]);
    section(10, &code, &mut m);

    // Data: the log line at LINE_ADDR.
    let mut data = vec![0x00];
    data.extend(i32_const(LINE_ADDR));
    data.push(0x0b);
    name(line, &mut data);
    section(11, &vec_of(&[data]), &mut m);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128() {
        let enc = |v: u32| {
            let mut o = Vec::new();
            leb_u32(v, &mut o);
            o
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(624_485), [0xe5, 0x8e, 0x26]);
        let enci = |v: i32| {
            let mut o = Vec::new();
            leb_i32(v, &mut o);
            o
        };
        assert_eq!(enci(1), [0x01]);
        assert_eq!(enci(64), [0xc0, 0x00]);
        assert_eq!(enci(1024), [0x80, 0x08]);
        assert_eq!(enci(-1), [0x7f]);
    }

    #[test]
    fn module_shape() {
        let m = probe_module("[probe] configured");
        assert!(m.starts_with(b"\0asm\x01\0\0\0"));
        let needle = b"[probe] configured";
        assert!(m.windows(needle.len()).any(|w| w == needle));
        assert!(m.len() < LINE_ADDR as usize);
    }
}
