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
    fn disabled_levels_are_not_written() {
        let host = MockHost::new();
        host.set_log_level(LogLevel::Info);
        PluginLog::plugin("p").debug(&host, format_args!("hidden"));
        assert!(host.logs().is_empty());
    }
}
