//! Ordering a segment's holders for reading.

use std::time::Duration;

use crate::{Cluster, Health, NodeId, NodeInfo};

/// Orders the holders of a segment's shards for a read: the positions in
/// `holders` (shard indices, if `holders` is indexed by shard) of the nodes
/// to ask first.
///
/// Alive before suspect before dead or unknown (`lookup` returns `None`),
/// then lowest RTT first, compared in whole steps of [`RTT_STEP`] (0–5 ms,
/// 5–10 ms, ...), with unknown RTT after every known one, then by position.
/// Every position appears exactly once.
///
/// RTTs in the same step count as equally near, so that among them the
/// lowest positions win: for a segment's shards those are the data shards,
/// which decode without any Reed-Solomon work.
pub fn order_for_read<'a, F>(holders: &[NodeId], mut lookup: F) -> Vec<usize>
where
    F: FnMut(&NodeId) -> Option<&'a NodeInfo>,
{
    let keys: Vec<(u8, Option<Duration>)> = holders
        .iter()
        .map(|id| match lookup(id) {
            Some(n) => (health_rank(n.health), n.rtt),
            None => (2, None),
        })
        .collect();
    let mut order: Vec<usize> = (0..holders.len()).collect();
    order.sort_by(|&a, &b| {
        let (ha, ra) = keys[a];
        let (hb, rb) = keys[b];
        ha.cmp(&hb)
            .then_with(|| match (ra, rb) {
                (Some(x), Some(y)) => rtt_step(x).cmp(&rtt_step(y)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then(a.cmp(&b))
    });
    order
}

/// The width of the RTT steps reads are ordered by: RTTs in the same step
/// (`rtt / RTT_STEP` equal) are not told apart.
pub const RTT_STEP: Duration = Duration::from_millis(5);

fn rtt_step(rtt: Duration) -> u128 {
    rtt.as_micros() / RTT_STEP.as_micros()
}

fn health_rank(h: Health) -> u8 {
    match h {
        Health::Alive => 0,
        Health::Suspect => 1,
        Health::Dead => 2,
    }
}

impl Cluster {
    /// [`order_for_read`] with this cluster's view of the nodes.
    pub fn order_for_read(&self, holders: &[NodeId]) -> Vec<usize> {
        order_for_read(holders, |id| self.node(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn orders_by_health_then_rtt_then_position() {
        let ms = Duration::from_millis;
        let nodes = vec![
            NodeInfo::new("a", "r", "1", 1).with_rtt(ms(50)),
            NodeInfo::new("b", "r", "2", 1).with_rtt(ms(5)),
            NodeInfo::new("c", "r", "3", 1),
            NodeInfo::new("d", "r", "4", 1)
                .with_rtt(ms(1))
                .with_health(Health::Suspect),
            NodeInfo::new("e", "r", "5", 1)
                .with_rtt(ms(1))
                .with_health(Health::Dead),
            NodeInfo::new("f", "r", "6", 1).with_rtt(ms(5)),
            NodeInfo::new("g", "r", "7", 1).with_health(Health::Suspect),
        ];
        let c = Cluster::new(nodes, Policy::default()).unwrap();
        let holders: Vec<NodeId> = ["zz", "g", "e", "f", "d", "c", "b", "a"]
            .into_iter()
            .map(NodeId::from)
            .collect();
        let order = c.order_for_read(&holders);
        let names: Vec<String> = order
            .iter()
            .map(|&i| String::from_utf8(holders[i].as_bytes().to_vec()).unwrap())
            .collect();
        // Alive: f (5) and b (5) tie on RTT -> position; then a (50);
        // then c (unknown). Suspect: d (1), g (unknown). Dead/unknown: e
        // (1), zz.
        assert_eq!(names, ["f", "b", "a", "c", "d", "g", "e", "zz"]);
    }

    #[test]
    fn nearly_equal_rtts_keep_shard_order() {
        let us = Duration::from_micros;
        // Six holders in shard order; RTTs all within one step, the
        // parity holders (positions 4, 5) the fastest.
        let rtts = [4_000, 3_000, 2_500, 4_900, 300, 200];
        let nodes: Vec<NodeInfo> = rtts
            .iter()
            .enumerate()
            .map(|(i, &rtt)| {
                NodeInfo::new(format!("n{i}").as_str(), "r", format!("{i}"), 1).with_rtt(us(rtt))
            })
            .collect();
        let c = Cluster::new(nodes, Policy::default()).unwrap();
        let holders: Vec<NodeId> = (0..6)
            .map(|i| NodeId::from(format!("n{i}").as_str()))
            .collect();
        assert_eq!(c.order_for_read(&holders), [0, 1, 2, 3, 4, 5]);
        // A holder a step or more slower goes last.
        let mut nodes: Vec<NodeInfo> = (0..6)
            .map(|i| {
                NodeInfo::new(format!("n{i}").as_str(), "r", format!("{i}"), 1).with_rtt(us(1_000))
            })
            .collect();
        nodes[1] = NodeInfo::new("n1", "r", "1", 1).with_rtt(us(6_000));
        let c = Cluster::new(nodes, Policy::default()).unwrap();
        assert_eq!(c.order_for_read(&holders), [0, 2, 3, 4, 5, 1]);
    }

    #[test]
    fn duplicate_holders_keep_every_position() {
        let holders = vec![NodeId::from("x"), NodeId::from("x")];
        assert_eq!(order_for_read(&holders, |_| None), [0, 1]);
    }
}
