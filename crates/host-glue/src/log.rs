//! Log lines in Higress's AI-plugin format: `[<plugin>] [<request id or nil>] message`.
//!
//! Every method checks the host's level before formatting, so a disabled debug line costs one
//! host call and no allocation.

use crate::host::Host;
use proxy_wasm::types::LogLevel;
use std::fmt::Arguments;

/// Writes log lines for one plugin, optionally tagged with a request id.
#[derive(Debug, Clone, Copy)]
pub struct PluginLog<'a> {
    plugin: &'static str,
    request_id: Option<&'a str>,
}

impl<'a> PluginLog<'a> {
    /// Lines for the plugin as a whole (no request).
    pub fn plugin(plugin: &'static str) -> Self {
        Self {
            plugin,
            request_id: None,
        }
    }

    /// Lines about one request.
    pub fn request(plugin: &'static str, request_id: Option<&'a str>) -> Self {
        Self { plugin, request_id }
    }

    /// Writes `args` at `level` if that level is enabled.
    pub fn write<H: Host + ?Sized>(&self, host: &H, level: LogLevel, args: Arguments<'_>) {
        if !host.log_enabled(level) {
            return;
        }
        let line = format!(
            "[{}] [{}] {}",
            self.plugin,
            self.request_id.unwrap_or("nil"),
            args
        );
        host.log(level, &line);
    }

    /// Debug line.
    pub fn debug<H: Host + ?Sized>(&self, host: &H, args: Arguments<'_>) {
        self.write(host, LogLevel::Debug, args);
    }

    /// Info line.
    pub fn info<H: Host + ?Sized>(&self, host: &H, args: Arguments<'_>) {
        self.write(host, LogLevel::Info, args);
    }

    /// Warning line.
    pub fn warn<H: Host + ?Sized>(&self, host: &H, args: Arguments<'_>) {
        self.write(host, LogLevel::Warn, args);
    }

    /// Error line.
    pub fn error<H: Host + ?Sized>(&self, host: &H, args: Arguments<'_>) {
        self.write(host, LogLevel::Error, args);
    }
}

/// Logs a recurring problem once per burst: the first occurrence is written, later ones within
/// `interval_ms` are only counted, and the next line written says how many were left out. For
/// store errors, which come in floods when Redis is down.
#[derive(Debug)]
pub struct Bursts {
    interval_ms: u64,
    /// The time the last line was written (0: never) and the occurrences left out since.
    state: std::cell::Cell<(u64, u64)>,
}

impl Bursts {
    /// One line per `interval_ms` at most.
    pub const fn new(interval_ms: u64) -> Self {
        Self {
            interval_ms,
            state: std::cell::Cell::new((0, 0)),
        }
    }

    /// Records one occurrence; writes `args` (followed by the count of those left out since the
    /// last line) as a warning unless a line was written less than the interval ago.
    pub fn warn<H: Host + ?Sized>(&self, host: &H, log: &PluginLog<'_>, args: Arguments<'_>) {
        let now = host.now_ms();
        let (last, suppressed) = self.state.get();
        if last != 0 && now.saturating_sub(last) < self.interval_ms {
            self.state.set((last, suppressed + 1));
            return;
        }
        self.state.set((now, 0));
        log.warn(
            host,
            format_args!("{args}; {suppressed} more since the last report"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockHost;

    #[test]
    fn lines_carry_plugin_and_request_id() {
        let host = MockHost::new();
        PluginLog::request("ai-quota", Some("abc")).info(&host, format_args!("hello {}", 1));
        PluginLog::plugin("ai-quota").warn(&host, format_args!("no request"));
        assert_eq!(
            host.logs(),
            vec![
                (LogLevel::Info, "[ai-quota] [abc] hello 1".to_string()),
                (LogLevel::Warn, "[ai-quota] [nil] no request".to_string()),
            ]
        );
    }

    #[test]
    fn a_burst_is_one_line_and_the_next_line_counts_what_was_left_out() {
        let host = MockHost::new();
        host.set_now_ms(1_000);
        let bursts = Bursts::new(10_000);
        let log = PluginLog::plugin("p");
        for _ in 0..3 {
            bursts.warn(&host, &log, format_args!("store down"));
        }
        host.advance_ms(10_000);
        bursts.warn(&host, &log, format_args!("store down"));
        let lines: Vec<String> = host.logs().into_iter().map(|(_, l)| l).collect();
        assert_eq!(
            lines,
            [
                "[p] [nil] store down; 0 more since the last report",
                "[p] [nil] store down; 2 more since the last report"
            ]
        );
    }

    #[test]
    fn disabled_levels_are_not_written() {
        let host = MockHost::new();
        host.set_log_level(LogLevel::Info);
        PluginLog::plugin("p").debug(&host, format_args!("hidden"));
        assert!(host.logs().is_empty());
    }
}
