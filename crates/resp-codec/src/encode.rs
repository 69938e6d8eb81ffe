//! Encoding Redis commands as RESP2 arrays of bulk strings.

/// Encodes a command as a RESP2 array of bulk strings.
///
/// Redis expects every command from a client in this shape, whatever the
/// argument types: `["GET", "key"]` becomes `*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n`.
/// Arguments are binary safe; they may contain CR, LF or NUL bytes.
///
/// ```
/// let bytes = resp_codec::encode_command(&[b"GET", b"key"]);
/// assert_eq!(bytes, b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
/// ```
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let payload: usize = args.iter().map(|a| a.len()).sum();
    let mut out = Vec::with_capacity(payload + 16 * (args.len() + 1));
    push_header(&mut out, b'*', args.len());
    for arg in args {
        push_bulk(&mut out, arg);
    }
    out
}

/// A Redis command under construction, encoded with [`Command::to_bytes`].
///
/// Arguments can be given as anything byte-like (`&str`, `String`, `&[u8]`,
/// `Vec<u8>`) with [`Command::arg`], or as integers with [`Command::arg_int`]
/// and [`Command::arg_uint`], which are sent in decimal as Redis expects.
///
/// ```
/// use resp_codec::Command;
/// let cmd = Command::new("EVALSHA")
///     .arg("8f3a")
///     .arg_int(1)
///     .arg("quota:user1")
///     .arg_uint(60);
/// assert_eq!(cmd.len(), 5);
/// assert!(cmd.to_bytes().starts_with(b"*5\r\n$7\r\nEVALSHA\r\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    args: Vec<Vec<u8>>,
}

impl Command {
    /// Starts a command whose first word is `name` (for example `"INCRBY"`).
    pub fn new(name: impl AsRef<[u8]>) -> Self {
        Self {
            args: vec![name.as_ref().to_vec()],
        }
    }

    /// Appends a byte-like argument.
    #[must_use]
    pub fn arg(mut self, value: impl AsRef<[u8]>) -> Self {
        self.args.push(value.as_ref().to_vec());
        self
    }

    /// Appends a signed integer argument, written in decimal.
    #[must_use]
    pub fn arg_int(mut self, value: i64) -> Self {
        let mut buf = Vec::with_capacity(20);
        push_i64(&mut buf, value);
        self.args.push(buf);
        self
    }

    /// Appends an unsigned integer argument, written in decimal.
    #[must_use]
    pub fn arg_uint(mut self, value: u64) -> Self {
        let mut buf = Vec::with_capacity(20);
        push_u64(&mut buf, value);
        self.args.push(buf);
        self
    }

    /// Appends every item of `values` as a byte-like argument.
    #[must_use]
    pub fn args<I>(mut self, values: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.args
            .extend(values.into_iter().map(|v| v.as_ref().to_vec()));
        self
    }

    /// Number of words in the command, including the command name.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Always false, since a command has at least its name; provided to pair
    /// with [`Command::len`].
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// The words of the command, name first.
    pub fn words(&self) -> impl Iterator<Item = &[u8]> {
        self.args.iter().map(Vec::as_slice)
    }

    /// Appends the RESP2 encoding of the command to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        push_header(out, b'*', self.args.len());
        for arg in &self.args {
            push_bulk(out, arg);
        }
    }

    /// Returns the RESP2 encoding of the command.
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload: usize = self.args.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(payload + 16 * (self.args.len() + 1));
        self.encode_into(&mut out);
        out
    }
}

/// Writes `<tag><n>\r\n`.
pub(crate) fn push_header(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    push_u64(out, n as u64);
    out.extend_from_slice(b"\r\n");
}

/// Writes a bulk string: `$<len>\r\n<bytes>\r\n`.
pub(crate) fn push_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    push_header(out, b'$', bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Writes `value` in decimal without going through `core::fmt`.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut value: u64) {
    let start = out.len();
    loop {
        // `value % 10` is below 10, so the cast cannot truncate.
        out.push(b'0' + (value % 10) as u8);
        value /= 10;
        if value == 0 {
            break;
        }
    }
    if let Some(digits) = out.get_mut(start..) {
        digits.reverse();
    }
}

/// Writes a signed `value` in decimal; `i64::MIN` is handled.
pub(crate) fn push_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    push_u64(out, value.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(v: i64) -> String {
        let mut out = Vec::new();
        push_i64(&mut out, v);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn encodes_get_as_array_of_bulk_strings() {
        assert_eq!(
            encode_command(&[b"GET", b"key"]),
            b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
        );
    }

    #[test]
    fn encodes_empty_argument_and_binary_bytes() {
        assert_eq!(
            encode_command(&[b"SET", b"", b"a\r\n\0"]),
            b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\na\r\n\0\r\n"
        );
    }

    #[test]
    fn builder_matches_encode_command() {
        let cmd = Command::new("EVALSHA")
            .arg("abc")
            .arg_int(2)
            .arg(b"k1".as_slice())
            .arg(String::from("k2"))
            .arg_uint(60)
            .arg_int(-5);
        let expected = encode_command(&[b"EVALSHA", b"abc", b"2", b"k1", b"k2", b"60", b"-5"]);
        assert_eq!(cmd.to_bytes(), expected);
        assert_eq!(cmd.len(), 7);
        assert!(!cmd.is_empty());
    }

    #[test]
    fn builder_args_appends_each_item() {
        let cmd = Command::new("DEL").args(["a", "b"]);
        let words: Vec<&[u8]> = cmd.words().collect();
        assert_eq!(words, vec![b"DEL".as_slice(), b"a", b"b"]);
    }

    #[test]
    fn integers_are_written_in_decimal_including_extremes() {
        assert_eq!(decimal(0), "0");
        assert_eq!(decimal(7), "7");
        assert_eq!(decimal(-42), "-42");
        assert_eq!(decimal(i64::MAX), i64::MAX.to_string());
        assert_eq!(decimal(i64::MIN), i64::MIN.to_string());
        let mut out = Vec::new();
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().into_bytes());
    }
}
