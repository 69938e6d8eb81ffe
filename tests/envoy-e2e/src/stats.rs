//! Parsing of Envoy's admin `/stats` and `/stats/prometheus` output.

use std::collections::BTreeMap;

/// Parses `/stats` text (`name: value` lines) into name → value. Histogram
/// lines (whose value is not an integer) are left out.
pub fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(": ")?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// One Prometheus sample.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl PromSample {
    /// Whether the sample has every given label with the given value.
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(k, v)| self.labels.get(*k).map(String::as_str) == Some(*v))
    }
}

/// Parses Prometheus text exposition format; comment lines and malformed
/// lines are skipped.
pub fn parse_prometheus(text: &str) -> Vec<PromSample> {
    text.lines().filter_map(parse_sample).collect()
}

fn parse_sample(line: &str) -> Option<PromSample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        labels = parsed;
        rest = remaining;
    }
    let value_text = rest.split_whitespace().next()?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(PromSample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `k="v",...}` and returns the labels and the text after `}`.
fn parse_labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (key, after) = s.split_once('=')?;
        let mut chars = after.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        labels.insert(key.trim().to_string(), value);
        s = &after[1 + end + 1..];
    }
}

/// Value of the first sample named `name` that has all `labels` (other
/// labels may be present too).
pub fn prometheus_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parse_prometheus(text)
        .into_iter()
        .find(|s| s.name == name && s.has_labels(labels))
        .map(|s| s.value)
}

/// Sum over every sample named `name` that has all `labels`; `None` when
/// none matches.
pub fn prometheus_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = parse_prometheus(text)
        .into_iter()
        .filter(|s| s.name == name && s.has_labels(labels))
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text() {
        let m = parse_stats(
            "cluster.llm.upstream_rq_200: 3\nhttp.ingress.downstream_rq_time: P0(nan,1) P25(nan,1)\nserver.live: 1\n",
        );
        assert_eq!(m.get("cluster.llm.upstream_rq_200"), Some(&3));
        assert_eq!(m.get("server.live"), Some(&1));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn prometheus_text() {
        let t = r#"# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="llm"} 4
envoy_cluster_upstream_rq{envoy_response_code="429",envoy_cluster_name="llm"} 1
envoy_server_live{} 1
weird{a="x\"y,z}",b="\\"} 2.5 1700000000
envoy_rq_time_bucket{le="+Inf"} +Inf
plain 7
"#;
        let s = parse_prometheus(t);
        assert_eq!(s.len(), 6);
        assert_eq!(
            prometheus_value(
                t,
                "envoy_cluster_upstream_rq",
                &[("envoy_response_code", "429")]
            ),
            Some(1.0)
        );
        assert_eq!(
            prometheus_sum(t, "envoy_cluster_upstream_rq", &[]),
            Some(5.0)
        );
        assert_eq!(prometheus_value(t, "envoy_server_live", &[]), Some(1.0));
        assert_eq!(
            prometheus_value(t, "weird", &[("a", "x\"y,z}"), ("b", "\\")]),
            Some(2.5)
        );
        assert_eq!(prometheus_value(t, "plain", &[]), Some(7.0));
        assert_eq!(prometheus_value(t, "plain", &[("a", "b")]), None);
        assert_eq!(prometheus_sum(t, "absent", &[]), None);
    }
}
