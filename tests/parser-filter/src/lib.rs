//! Runs [`usage::UsageParser`] on every response body and logs the report as one JSON line
//! (`usage-report {...}`) at the end of the stream. Test and benchmark use only.

// A test filter exercises the host through the SDK on purpose, panicking calls included (the
// host's own tests check that it exposes those hazards): clippy.toml's ban is for plugin code.
#![allow(clippy::disallowed_methods)]

#[cfg(target_arch = "wasm32")]
mod filter {
    use proxy_wasm::traits::{Context, HttpContext, RootContext};
    use proxy_wasm::types::{Action, ContextType, LogLevel};
    use usage::{ParserConfig, UsageParser};

    struct Root;
    impl Context for Root {}
    impl RootContext for Root {
        fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
            Some(Box::new(ParserFilter { parser: None }))
        }
        fn get_type(&self) -> Option<ContextType> {
            Some(ContextType::HttpContext)
        }
    }

    struct ParserFilter {
        parser: Option<UsageParser>,
    }
    impl Context for ParserFilter {}
    impl HttpContext for ParserFilter {
        fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
            let content_type = self.get_http_response_header("content-type");
            let encoding = self.get_http_response_header("content-encoding");
            self.parser = Some(UsageParser::new(
                ParserConfig::default(),
                content_type.as_deref(),
                encoding.as_deref(),
            ));
            Action::Continue
        }

        fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
            let chunk = self.get_http_response_body(0, size).unwrap_or_default();
            if let Some(parser) = self.parser.as_mut() {
                parser.feed_body(&chunk, end_of_stream);
                if end_of_stream {
                    let report = serde_json::to_string(parser.report()).unwrap_or_default();
                    proxy_wasm::hostcalls::log(
                        LogLevel::Info,
                        &format!("usage-report {report} buffered={}", parser.buffered_bytes()),
                    )
                    .ok();
                }
            }
            Action::Continue
        }
    }

    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| Box::new(Root));
    }}
}
