//! The metrics store shared by every VM of a [`HostEnv`](crate::HostEnv),
//! like Envoy's stats store.

use std::collections::HashMap;

use crate::types::{MetricType, Status};

/// The current value of one metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricValue {
    /// Counter total.
    Counter(u64),
    /// Gauge value (may be negative after decrements).
    Gauge(i64),
    /// Every recorded sample, in order.
    Histogram(Vec<u64>),
}

#[derive(Debug)]
struct Metric {
    name: String,
    value: MetricValue,
}

/// Metrics keyed by id, with a name index. Defining the same name and type
/// twice returns the same id (several VMs define the same metrics).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    by_id: Vec<Metric>,
    by_name: HashMap<(String, u8), u32>,
}

fn type_key(t: MetricType) -> u8 {
    match t {
        MetricType::Counter => 0,
        MetricType::Gauge => 1,
        MetricType::Histogram => 2,
    }
}

impl Metrics {
    /// Defines (or finds) a metric and returns its id (ids start at 1).
    pub fn define(&mut self, t: MetricType, name: &str) -> u32 {
        if let Some(id) = self.by_name.get(&(name.to_string(), type_key(t))) {
            return *id;
        }
        let value = match t {
            MetricType::Counter => MetricValue::Counter(0),
            MetricType::Gauge => MetricValue::Gauge(0),
            MetricType::Histogram => MetricValue::Histogram(Vec::new()),
        };
        self.by_id.push(Metric {
            name: name.to_string(),
            value,
        });
        let id = self.by_id.len() as u32;
        self.by_name.insert((name.to_string(), type_key(t)), id);
        id
    }

    fn get_mut(&mut self, id: u32) -> Result<&mut Metric, Status> {
        let index = (id as usize).checked_sub(1).ok_or(Status::NotFound)?;
        self.by_id.get_mut(index).ok_or(Status::NotFound)
    }

    /// `proxy_increment_metric`: counters refuse negative offsets.
    pub fn increment(&mut self, id: u32, delta: i64) -> Result<(), Status> {
        match &mut self.get_mut(id)?.value {
            MetricValue::Counter(c) => {
                if delta < 0 {
                    return Err(Status::BadArgument);
                }
                *c = c.saturating_add(delta as u64);
            }
            MetricValue::Gauge(g) => *g = g.saturating_add(delta),
            MetricValue::Histogram(_) => return Err(Status::BadArgument),
        }
        Ok(())
    }

    /// `proxy_record_metric`: adds to a counter (as Envoy does), sets a
    /// gauge, appends a histogram sample.
    pub fn record(&mut self, id: u32, value: u64) -> Result<(), Status> {
        match &mut self.get_mut(id)?.value {
            MetricValue::Counter(c) => *c = c.saturating_add(value),
            MetricValue::Gauge(g) => *g = value as i64,
            MetricValue::Histogram(h) => h.push(value),
        }
        Ok(())
    }

    /// `proxy_get_metric`: histograms cannot be read as one number.
    pub fn get(&self, id: u32) -> Result<u64, Status> {
        let index = (id as usize).checked_sub(1).ok_or(Status::NotFound)?;
        match &self.by_id.get(index).ok_or(Status::NotFound)?.value {
            MetricValue::Counter(c) => Ok(*c),
            MetricValue::Gauge(g) => Ok(*g as u64),
            MetricValue::Histogram(_) => Err(Status::BadArgument),
        }
    }

    /// Value of the metric called `name` (any type; first defined wins).
    pub fn by_name(&self, name: &str) -> Option<&MetricValue> {
        self.by_id.iter().find(|m| m.name == name).map(|m| &m.value)
    }

    /// Every metric as `(name, value)`, in definition order.
    pub fn snapshot(&self) -> Vec<(String, MetricValue)> {
        self.by_id
            .iter()
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect()
    }
}
