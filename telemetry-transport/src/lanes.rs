//! The destinations one pipeline delivers to: the collector, an OTLP logs
//! endpoint, or both. Every batch goes to each lane, and each lane retries on
//! its own.
//!
//! - Without a spool, the first lane paces the pipeline (its batches take the
//!   worker's in-flight slots; an OTLP lane alone encodes one more ahead, see
//!   `worker`); a second lane's deliveries run beside it, up to
//!   [`SECONDARY_BATCHES`] batches at once. An outage there never slows the
//!   first lane: past that many batches, the second lane's batches are dropped
//!   and counted (its `dropped_by_reason.queue_full`), and warned of.
//! - With a spool, a batch leaves the spool when every lane has settled it: at
//!   least once to each destination. The price: the spool sends one batch at a
//!   time, so an outage of one destination holds the other's events back too
//!   (on disk, not lost) until the batch is delivered or given up.
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

/// Batches a second lane may have in delivery at once (without a spool).
pub(crate) const SECONDARY_BATCHES: usize = 8;

/// Hands `batch` to each of the `lanes` after the first, in tasks of their own
/// (without a spool): up to [`SECONDARY_BATCHES`] per lane, else counted as dropped.
pub(crate) fn deliver_beside(lanes: &[Arc<Sender>], batch: &Batch, tasks: &mut tokio::task::JoinSet<bool>) {
    let n = batch.len() as u64;
    for lane in lanes {
        lane.counters.emitted.add(n);
        match lane.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let (lane, batch) = (lane.clone(), batch.clone());
                tasks.spawn(async move {
                    let settled = lane.deliver(batch, false).await;
                    drop(permit);
                    settled
                });
            }
            Err(_) => {
                Counters::add(&lane.counters.dropped_queue_full, n);
                let url = &lane.url;
                lane.log_refusal(|| {
                    format!(
                        "{url} is behind by {SECONDARY_BATCHES} batches: a batch of {n} events for it is dropped \
                         (counted in its stats, dropped_by_reason.queue_full); the other destination is not held back"
                    )
                });
            }
        }
    }
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
