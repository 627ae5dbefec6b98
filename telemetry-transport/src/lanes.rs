//! The destinations one pipeline delivers to: the collector, an OTLP logs
//! endpoint, or both. Every batch goes to each lane; each lane retries on its
//! own (one endpoint's outage never holds the other's events back longer than
//! the batch's own delivery), and the batch settles, and leaves the spool, when
//! every lane has settled it: at least once to each destination.
//!
//! Counting: the first lane counts in the pipeline's own counters (so with one
//! destination nothing changes); a second lane has its own, read with
//! `PipelineGuard::otlp_stats`, whose `emitted` is what was handed to it.

use std::future::Future;
use std::sync::Arc;

use crate::batch::Batch;
use crate::config::PipelineConfig;
use crate::sender::{Lane, Sender};
use crate::stats::Counters;

/// Each lane's URL, encoding and counters, collector first.
pub(crate) fn build(
    config: &PipelineConfig,
    counters: &Arc<Counters>,
    extra: &[Arc<Counters>],
) -> Vec<(url::Url, Lane, Arc<Counters>)> {
    let mut lanes = Vec::new();
    if let Some(url) = &config.endpoint {
        lanes.push((url.clone(), Lane::Collector));
    }
    #[cfg(feature = "otlp")]
    if let Some(endpoints) = &config.otlp {
        if let Some(url) = &endpoints.logs {
            let service = config
                .service
                .clone()
                .unwrap_or_else(|| telemetry_core::default_service_name().to_string());
            let resource = crate::otlp::resource(&service, config.service_version.as_deref(), &endpoints.resource);
            lanes.push((
                url.clone(),
                Lane::Otlp(Box::new(crate::sender::OtlpLane {
                    encoder: Arc::new(crate::otlp::LogsEncoder::new(resource, endpoints.protocol)),
                    endpoints: endpoints.clone(),
                })),
            ));
        }
    }
    let mut own = std::iter::once(counters.clone()).chain(extra.iter().cloned());
    lanes
        .into_iter()
        .map(|(url, lane)| (url, lane, own.next().unwrap_or_else(|| counters.clone())))
        .collect()
}

/// How many lanes a configuration has (the guard makes counters for each past the first).
pub(crate) fn count(config: &PipelineConfig) -> usize {
    #[allow(unused_mut)]
    let mut n = usize::from(config.endpoint.is_some());
    #[cfg(feature = "otlp")]
    {
        n += usize::from(config.otlp.as_ref().is_some_and(|o| o.logs.is_some()));
    }
    n
}

/// Delivers `batch` to every lane; resolves to whether every lane settled it.
pub(crate) fn deliver_to_all(
    lanes: &[Arc<Sender>],
    pipeline: &Arc<Counters>,
    batch: Batch,
    spooled: bool,
) -> impl Future<Output = bool> + Send + 'static {
    let n = batch.len() as u64;
    let mut deliveries = tokio::task::JoinSet::new();
    let last = lanes.len().saturating_sub(1);
    let mut batch = Some(batch);
    for (i, lane) in lanes.iter().enumerate() {
        let copy = if i == last {
            batch.take().unwrap_or_default()
        } else {
            batch.clone().unwrap_or_default()
        };
        if !Arc::ptr_eq(&lane.counters, pipeline) {
            lane.counters.emitted.add(n);
        }
        deliveries.spawn(lane.clone().deliver(copy, spooled));
    }
    async move {
        let mut settled = true;
        while let Some(done) = deliveries.join_next().await {
            settled &= done.unwrap_or(false);
        }
        settled
    }
}

/// The lanes' URLs, for messages: `http://a/v1/events and http://b/v1/logs`.
pub(crate) fn describe(lanes: &[Arc<Sender>]) -> String {
    lanes
        .iter()
        .map(|l| l.url.to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}
