//! Wire formats of the ABI: header-map serialization and property paths.

/// Serializes header pairs the way Proxy-Wasm expects them: a little-endian
/// u32 count, `count` pairs of u32 (key length, value length), then each key
/// and value followed by a NUL byte.
pub fn serialize_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let mut size = 4;
    for (k, v) in pairs {
        size += 8 + k.as_ref().len() + v.as_ref().len() + 2;
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// Parses a serialized map. An empty input (or a single NUL byte) is an
/// empty map. Returns `None` when the bytes are truncated or inconsistent.
pub fn deserialize_map(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if bytes.is_empty() || bytes == [0] {
        return Some(Vec::new());
    }
    let count = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let header_end = 4usize.checked_add(count.checked_mul(8)?)?;
    if header_end > bytes.len() {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    let mut pos = header_end;
    for i in 0..count {
        let at = 4 + i * 8;
        let klen = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        let vlen = u32::from_le_bytes(bytes.get(at + 4..at + 8)?.try_into().ok()?) as usize;
        let key = bytes.get(pos..pos.checked_add(klen)?)?.to_vec();
        pos += klen + 1;
        let value = bytes.get(pos..pos.checked_add(vlen)?)?.to_vec();
        pos += vlen + 1;
        out.push((key, value));
    }
    if pos > bytes.len() {
        return None;
    }
    Some(out)
}

/// Encodes a property path the way the proxy-wasm SDKs do: segments joined
/// by NUL bytes.
pub fn encode_path(segments: &[&str]) -> Vec<u8> {
    segments.join("\0").into_bytes()
}

/// Renders an encoded path for humans (`a.b.c`).
pub fn display_path(path: &[u8]) -> String {
    String::from_utf8_lossy(path).replace('\0', ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_roundtrip() {
        let pairs = [("a", "1"), ("bb", "22")];
        let bytes = serialize_map(&pairs);
        assert_eq!(bytes.len(), 4 + 16 + 2 + 2 + 3 + 3);
        let back = deserialize_map(&bytes).unwrap();
        assert_eq!(
            back,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"bb".to_vec(), b"22".to_vec())
            ]
        );
        assert_eq!(deserialize_map(&[]), Some(vec![]));
        assert_eq!(deserialize_map(&bytes[..bytes.len() - 3]), None);
    }

    #[test]
    fn path() {
        assert_eq!(encode_path(&["source", "address"]), b"source\0address");
        assert_eq!(display_path(b"source\0address"), "source.address");
    }
}
