//! `mock-llm --port N [options]`: runs the mock until killed. Prints
//! `listening on 127.0.0.1:PORT` as its first stdout line.

use std::io::Write;
use std::process::ExitCode;

use mock_llm::{MockConfig, MockLlm};

const USAGE: &str = "usage: mock-llm [--port N] [--prompt-tokens N] [--completion-tokens N]
                [--cached-tokens N] [--reasoning-tokens N] [--cache-creation-tokens N]
                [--chunks N] [--split-bytes N] [--delay-ms N] [--status CODE]
                [--omit-usage] [--stream-error] [--stream-content-length]
  --port 0 (the default) picks a free port. Every option can be overridden per
  request with the matching x-mock-* header (e.g. x-mock-prompt-tokens: 5).";

fn parse_args(args: &[String]) -> Result<(u16, MockConfig), String> {
    let mut port = 0u16;
    let mut c = MockConfig::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        fn n<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{name}: bad number {v:?}"))
        }
        match name {
            "--port" => port = n(name, value()?)?,
            "--prompt-tokens" => c = c.prompt_tokens(n(name, value()?)?),
            "--completion-tokens" => c = c.completion_tokens(n(name, value()?)?),
            "--cached-tokens" => c = c.cached_tokens(n(name, value()?)?),
            "--reasoning-tokens" => c = c.reasoning_tokens(n(name, value()?)?),
            "--cache-creation-tokens" => c = c.cache_creation_tokens(n(name, value()?)?),
            "--chunks" => c = c.chunks(n(name, value()?)?),
            "--split-bytes" => c = c.split_bytes(n(name, value()?)?),
            "--delay-ms" => c = c.delay_ms(n(name, value()?)?),
            "--status" => c = c.status(n(name, value()?)?),
            "--omit-usage" => c = c.omit_usage(true),
            "--stream-error" => c = c.stream_error(true),
            "--stream-content-length" => c = c.stream_content_length(true),
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok((port, c))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (port, config) = match parse_args(&args) {
        Ok(v) => v,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("mock-llm: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mock = match MockLlm::start_on(port, config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mock-llm: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {}", mock.addr());
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
