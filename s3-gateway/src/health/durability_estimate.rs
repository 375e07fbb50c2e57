//! The one-line durability estimate a gateway logs at start: the
//! `durability` crate's analytic model (a short repair-queue simulation
//! and a closed-form tail, milliseconds), for this gateway's erasure
//! scheme, repair settings and the nodes it sees, under the model's
//! default churn (2 % of nodes lost per month). `cairn simulate` gives the
//! full picture.

use std::sync::Arc;

use mesh::codec::DEFAULT_SEGMENT_SIZE;
use placement::Cluster;

use crate::GatewayConfig;
use crate::health::HealthConfig;

/// The model configuration for a `k + m` gateway with `health` settings
/// (devnet's or production's defaults for the rest) over `nodes` nodes in
/// `regions` regions, or why there is none (fewer nodes than shards).
pub fn model_config(
    k: usize,
    m: usize,
    devnet: bool,
    health: &HealthConfig,
    nodes: usize,
    regions: usize,
) -> Result<durability::Config, durability::ConfigError> {
    let base = if devnet {
        durability::Config::devnet()
    } else {
        durability::Config::production()
    };
    let model = durability::Config {
        k,
        m,
        repair_threshold: health.threshold(k, k + m),
        segment_size: DEFAULT_SEGMENT_SIZE as u64,
        nodes,
        regions: regions.max(1),
        dead_after: health.dead_after.as_secs_f64(),
        repair_grace: health.repair_grace.as_secs_f64(),
        check_every: health.check_every.as_secs_f64(),
        audit_cycle: health.audit_cycle.as_secs_f64(),
        gateway_repair_rate: health.repair_rate as f64,
        ..base
    };
    model.validate()?;
    Ok(model)
}

/// Logs the estimate for `config` and the nodes in `cluster` from a
/// blocking task, so start-up does not wait for it.
pub fn spawn_log(config: &GatewayConfig, cluster: Arc<Cluster>) {
    let (k, m, devnet) = (config.scheme.k, config.scheme.m, config.devnet);
    let health = config.health.clone();
    tokio::task::spawn_blocking(move || {
        let model = model_config(
            k,
            m,
            devnet,
            &health,
            cluster.len(),
            cluster.regions().len(),
        );
        log(
            k,
            m,
            model.and_then(|c| durability::estimate(&c).map(|e| (c, e))),
        );
    });
}

fn log(
    k: usize,
    m: usize,
    estimate: Result<(durability::Config, durability::Estimate), durability::ConfigError>,
) {
    match &estimate {
        Ok((_, e)) => tracing::info!(
            nines_per_segment = e.durability.segment_nines,
            nines_per_object = e.durability.object_nines,
            "durability estimate: {}",
            describe(k, m, &estimate)
        ),
        Err(error) => tracing::warn!(%error, "no durability estimate for {k}+{m}"),
    }
}

/// The estimate in one sentence (or why there is none).
pub fn describe(
    k: usize,
    m: usize,
    estimate: &Result<(durability::Config, durability::Estimate), durability::ConfigError>,
) -> String {
    match estimate {
        Ok((c, e)) => format!(
            "{k}+{m} on {} nodes in {} regions, 2 % of nodes lost per month: {:.1} nines per \
             segment, {:.1} per {}-segment object; a lost shard is rebuilt {:.0} s after its \
             node (cairn simulate for more)",
            c.nodes,
            c.regions,
            e.durability.segment_nines,
            e.durability.object_nines,
            c.segments_per_object,
            e.mean_repair_window_seconds
        ),
        Err(error) => format!("no estimate for {k}+{m}: {error}"),
    }
}

/// The estimate for a `k + m` gateway with `health` settings over the
/// nodes in `cluster`, in one sentence (a few milliseconds of CPU: call it
/// from a blocking task).
pub fn estimate_for(
    k: usize,
    m: usize,
    devnet: bool,
    health: &HealthConfig,
    cluster: &Cluster,
) -> String {
    let model = model_config(k, m, devnet, health, cluster.len(), cluster.regions().len());
    describe(
        k,
        m,
        &model.and_then(|c| durability::estimate(&c).map(|e| (c, e))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_takes_the_gateways_settings_and_nodes() {
        let c = model_config(4, 2, true, &HealthConfig::devnet(), 6, 3).unwrap();
        assert_eq!(
            (c.k, c.m, c.repair_threshold, c.nodes, c.regions),
            (4, 2, 5, 6, 3)
        );
        assert_eq!(
            (c.dead_after, c.repair_grace, c.check_every),
            (10.0, 10.0, 5.0)
        );
        assert_eq!(c.gateway_repair_rate, (256u64 << 20) as f64);
        let health = HealthConfig {
            repair_threshold: Some(4),
            ..HealthConfig::default()
        };
        let c = model_config(4, 2, false, &health, 12, 4).unwrap();
        assert_eq!(
            (c.dead_after, c.repair_grace, c.nodes, c.regions),
            (300.0, 600.0, 12, 4)
        );
        assert_eq!(c.repair_threshold, 4);
        let e = durability::estimate(&c).unwrap();
        assert!(e.durability.segment_nines > 2.0 && e.durability.segment_nines < 20.0);
    }

    #[test]
    fn too_few_nodes_is_an_error_not_a_figure() {
        assert!(matches!(
            model_config(4, 2, true, &HealthConfig::devnet(), 4, 2),
            Err(durability::ConfigError::TooFewNodes { .. })
        ));
    }
}
