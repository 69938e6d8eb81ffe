//! `{{NAME}}` placeholder substitution for Envoy config templates, and the
//! YAML for a list of Wasm HTTP filters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::E2eError;

/// Replaces every `{{NAME}}` (NAME made of `A-Z`, `0-9`, `_`) with its value.
///
/// A placeholder that stands alone on its line is a block: each line of a
/// multi-line value is indented like the placeholder, and an empty value
/// removes the line. Anywhere else the value is put in as is.
///
/// A placeholder without a value is an error naming it.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, E2eError> {
    let mut out = String::with_capacity(template.len());
    let mut missing = Vec::new();
    for line in template.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let trimmed = body.trim();
        if let Some(name) = sole_placeholder(trimmed) {
            match vars.get(name) {
                Some(value) => {
                    let indent = &body[..body.len() - body.trim_start().len()];
                    for v in value.lines().filter(|l| !l.trim().is_empty()) {
                        out.push_str(indent);
                        out.push_str(v);
                        out.push('\n');
                    }
                }
                None => missing.push(name.to_string()),
            }
            continue;
        }
        let mut rest = body;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            match after.find("}}") {
                Some(end) if is_name(&after[..end]) => {
                    let name = &after[..end];
                    out.push_str(&rest[..start]);
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => missing.push(name.to_string()),
                    }
                    rest = &after[end + 2..];
                }
                _ => {
                    out.push_str(&rest[..start + 2]);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out.push_str(eol);
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        missing.sort();
        missing.dedup();
        Err(E2eError::new(format!(
            "template placeholders without a value: {}",
            missing
                .iter()
                .map(|m| format!("{{{{{m}}}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Names of all placeholders in a template.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if is_name(&after[..end]) => {
                names.push(after[..end].to_string());
                rest = &after[end + 2..];
            }
            _ => rest = after,
        }
    }
    names.sort();
    names.dedup();
    names
}

fn sole_placeholder(trimmed: &str) -> Option<&str> {
    let name = trimmed.strip_prefix("{{")?.strip_suffix("}}")?;
    is_name(name).then_some(name)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A YAML double-quoted scalar for any text (JSON string escapes are valid
/// YAML escapes).
pub fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// One `envoy.filters.http.wasm` filter: a plugin module and its
/// configuration, passed to the plugin as a `google.protobuf.StringValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmFilter {
    /// Plugin name: the module is `<wasm_dir>/<plugin>.wasm` unless `file`
    /// is set; also the Envoy plugin `name`.
    pub plugin: String,
    /// The configuration text handed to `on_configure` (usually JSON).
    pub config: String,
    /// Explicit module path, instead of `<wasm_dir>/<plugin>.wasm`.
    pub file: Option<PathBuf>,
    /// `root_id` (empty = not set).
    pub root_id: String,
    /// `vm_id`; empty = `<plugin>-<position>`, so no two filters share a VM.
    pub vm_id: String,
    /// Plugin `failure_policy` (e.g. `FAIL_OPEN`); empty = Envoy's default.
    pub failure_policy: String,
    /// `allow_on_headers_stop_iteration` of Envoy's `PluginConfig`: whether a
    /// plugin that pauses in a headers callback still gets the body (`true`),
    /// or Envoy stops the whole stream (Envoy's default, `false`). `None`
    /// leaves the field out (or takes the builder's default, see
    /// [`crate::EnvoyBuilder::allow_on_headers_stop_iteration`]).
    pub allow_on_headers_stop_iteration: Option<bool>,
}

impl WasmFilter {
    /// `plugin` with a JSON configuration.
    pub fn new(plugin: &str, config: &serde_json::Value) -> WasmFilter {
        WasmFilter::raw(plugin, &config.to_string())
    }

    /// `plugin` with configuration text used verbatim (may be invalid JSON,
    /// for negative tests).
    pub fn raw(plugin: &str, config: &str) -> WasmFilter {
        WasmFilter {
            plugin: plugin.to_string(),
            config: config.to_string(),
            file: None,
            root_id: String::new(),
            vm_id: String::new(),
            failure_policy: String::new(),
            allow_on_headers_stop_iteration: None,
        }
    }

    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }
    pub fn root_id(mut self, id: &str) -> Self {
        self.root_id = id.to_string();
        self
    }
    pub fn vm_id(mut self, id: &str) -> Self {
        self.vm_id = id.to_string();
        self
    }
    pub fn failure_policy(mut self, policy: &str) -> Self {
        self.failure_policy = policy.to_string();
        self
    }
    /// Sets `allow_on_headers_stop_iteration` on this filter.
    pub fn allow_on_headers_stop_iteration(mut self, allow: bool) -> Self {
        self.allow_on_headers_stop_iteration = Some(allow);
        self
    }

    /// The module file this filter loads.
    pub fn module_path(&self, wasm_dir: &Path) -> PathBuf {
        self.file
            .clone()
            .unwrap_or_else(|| wasm_dir.join(format!("{}.wasm", self.plugin)))
    }

    /// The filter as one YAML list item (unindented).
    pub fn to_yaml(&self, wasm_dir: &Path, position: usize) -> String {
        let vm_id = if self.vm_id.is_empty() {
            format!("{}-{position}", self.plugin)
        } else {
            self.vm_id.clone()
        };
        let mut y = String::new();
        y.push_str("- name: envoy.filters.http.wasm\n");
        y.push_str("  typed_config:\n");
        y.push_str(
            "    \"@type\": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n",
        );
        y.push_str("    config:\n");
        y.push_str(&format!("      name: {}\n", yaml_str(&self.plugin)));
        if !self.root_id.is_empty() {
            y.push_str(&format!("      root_id: {}\n", yaml_str(&self.root_id)));
        }
        if !self.failure_policy.is_empty() {
            y.push_str(&format!("      failure_policy: {}\n", self.failure_policy));
        }
        if let Some(allow) = self.allow_on_headers_stop_iteration {
            y.push_str(&format!("      allow_on_headers_stop_iteration: {allow}\n"));
        }
        y.push_str("      vm_config:\n");
        y.push_str(&format!("        vm_id: {}\n", yaml_str(&vm_id)));
        y.push_str("        runtime: envoy.wasm.runtime.v8\n");
        y.push_str("        code:\n");
        y.push_str("          local:\n");
        y.push_str(&format!(
            "            filename: {}\n",
            yaml_str(&self.module_path(wasm_dir).to_string_lossy())
        ));
        y.push_str("      configuration:\n");
        y.push_str("        \"@type\": type.googleapis.com/google.protobuf.StringValue\n");
        y.push_str(&format!("        value: {}\n", yaml_str(&self.config)));
        y
    }
}

/// The YAML list of filters, in order (empty string for none).
pub fn wasm_filters_yaml(filters: &[WasmFilter], wasm_dir: &Path) -> String {
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| f.to_yaml(wasm_dir, i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn inline_and_block_placeholders() {
        let t = "a: {{X}}:{{X}}\n  list:\n    {{BLOCK}}\n    - last\nb: {{ not_a_name }} {{\n{{EMPTY}}\nend";
        let out = render(
            t,
            &vars(&[("X", "1"), ("BLOCK", "- one\n  sub: 2\n"), ("EMPTY", "")]),
        )
        .unwrap();
        assert_eq!(
            out,
            "a: 1:1\n  list:\n    - one\n      sub: 2\n    - last\nb: {{ not_a_name }} {{\nend"
        );
    }

    #[test]
    fn missing_values_are_reported() {
        let err = render("{{A}} {{B}}\n  {{C}}\n{{A}}", &vars(&[("B", "")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template placeholders without a value: {{A}}, {{C}}"
        );
        assert_eq!(placeholders("{{A}} {{B}}\n{{A}} {{x}}"), ["A", "B"]);
    }

    #[test]
    fn filter_yaml_quotes_config() {
        let f = WasmFilter::new("ai-quota", &serde_json::json!({"k": "v\"w", "n": "数据"}));
        let y = f.to_yaml(Path::new("/w"), 2);
        assert!(y.contains("vm_id: \"ai-quota-2\""));
        assert!(y.contains("filename: \"/w/ai-quota.wasm\""));
        assert!(y.contains(r#"value: "{\"k\":\"v\\\"w\",\"n\":\"数据\"}""#));
        assert!(!y.contains("root_id"));
        assert!(!y.contains("allow_on_headers_stop_iteration"));
        let y = f
            .allow_on_headers_stop_iteration(true)
            .to_yaml(Path::new("/w"), 0);
        assert!(y.contains("\n      allow_on_headers_stop_iteration: true\n"));
    }
}
