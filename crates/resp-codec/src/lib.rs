//! RESP2, the Redis wire protocol, for plugins that talk to Redis through a
//! host call rather than a socket.
//!
//! A Proxy-Wasm plugin cannot open connections itself: it hands the encoded
//! command bytes to the host and later receives the raw reply bytes. This
//! crate covers both ends of that exchange and does no I/O:
//!
//! * [`encode_command`] and [`Command`] turn a command into the array of bulk
//!   strings that Redis expects from clients.
//! * [`decode`] and [`decode_exact`] turn reply bytes into a [`Value`],
//!   telling a reply that has not fully arrived ([`DecodeError::Incomplete`])
//!   apart from bytes that can never be a reply ([`DecodeError::Malformed`]).
//!
//! The decoder never panics and never trusts a declared length: nesting is
//! bounded by [`MAX_DEPTH`] and memory reserved for an array is bounded by the
//! bytes actually present, so `*999999999\r\n` costs nothing.
//!
//! ```
//! use resp_codec::{decode_exact, Command, Value};
//!
//! let request = Command::new("INCRBY").arg("tokens:alice").arg_int(120).to_bytes();
//! assert_eq!(request, b"*3\r\n$6\r\nINCRBY\r\n$12\r\ntokens:alice\r\n$3\r\n120\r\n");
//!
//! let reply = decode_exact(b":620\r\n").unwrap();
//! assert_eq!(reply.as_int(), Some(620));
//! assert_eq!(decode_exact(b"$-1\r\n").unwrap(), Value::Null);
//! ```

#![warn(missing_docs)]

mod decode;
mod encode;
mod value;

pub use decode::{decode, decode_exact, DecodeError, MAX_ARRAY_LEN, MAX_BULK_LEN, MAX_DEPTH};
pub use encode::{encode_command, Command};
pub use value::Value;
