//! `GET /nodes` (every node, and the mesh drawn by region, refreshed
//! live) and `GET /nodes/<peer id>` (one node and its audit history).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Serialize;

use super::super::{Answer, Console, Ctx, render};
use super::{not_found, show, v};
use crate::admin::NodeStatus;

/// One node as the pages show it.
#[derive(Serialize)]
struct NodeRow {
    #[serde(flatten)]
    status: NodeStatus,
    /// Free space the node advertises.
    free_bytes: Option<u64>,
}

/// Nodes of one region, for the mesh picture.
#[derive(Serialize)]
struct Region {
    name: String,
    nodes: Vec<NodeRow>,
}

async fn rows(console: &Console) -> Result<Vec<NodeRow>, Answer> {
    let admin = &console.inner.admin;
    let status = admin.status().await.map_err(|e| {
        render::html(
            503,
            format!("<p>Metadata: {}</p>", render::escape(&e.to_string())),
        )
    })?;
    let cluster = admin.nodes.cluster();
    let free: BTreeMap<String, u64> = cluster
        .nodes()
        .iter()
        .filter_map(|n| {
            let peer = libp2p::PeerId::from_bytes(n.id.as_bytes()).ok()?;
            Some((peer.to_string(), n.free_bytes))
        })
        .collect();
    Ok(status
        .nodes
        .into_iter()
        .map(|status| NodeRow {
            free_bytes: free.get(&status.peer_id).copied(),
            status,
        })
        .collect())
}

/// The nodes page, or its live part alone with `?fragment=1`.
pub async fn page(console: &Console, ctx: &Ctx) -> Answer {
    let nodes = match rows(console).await {
        Ok(rows) => rows,
        Err(answer) => return answer,
    };
    let mut regions: BTreeMap<String, Vec<NodeRow>> = BTreeMap::new();
    let mut table = Vec::new();
    for row in nodes {
        let region = row
            .status
            .region
            .clone()
            .unwrap_or_else(|| "unknown".into());
        table.push(serde_json::to_value(&row).unwrap_or_default());
        regions.entry(region).or_default().push(row);
    }
    let regions: Vec<Region> = regions
        .into_iter()
        .map(|(name, nodes)| Region { name, nodes })
        .collect();
    if ctx.q("fragment") == "1" {
        return render::page(
            &console.inner.templates,
            "nodes_live.html",
            minijinja::context! { nodes => v(&table), regions => v(&regions) },
        );
    }
    show(
        console,
        ctx,
        "nodes.html",
        "Nodes",
        "nodes",
        vec![("nodes", v(&table)), ("regions", v(&regions))],
    )
}

/// One audit in a node's history.
#[derive(Serialize)]
struct AuditRow {
    ago: u64,
    outcome: &'static str,
}

/// One node's page.
pub async fn node(console: &Console, ctx: &Ctx, peer: &str) -> Answer {
    let Ok(id) = libp2p::PeerId::from_str(peer) else {
        return not_found(console, ctx);
    };
    let nodes = match rows(console).await {
        Ok(rows) => rows,
        Err(answer) => return answer,
    };
    let Some(row) = nodes.into_iter().find(|r| r.status.peer_id == peer) else {
        return not_found(console, ctx);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let audits: Vec<AuditRow> = console
        .inner
        .admin
        .health
        .audit_history(&id.to_bytes())
        .into_iter()
        .map(|(at, outcome)| AuditRow {
            ago: now.saturating_sub(at) / 1000,
            outcome: outcome.as_str(),
        })
        .collect();
    let title = format!("Node …{}", render::short(peer));
    show(
        console,
        ctx,
        "node.html",
        &title,
        "nodes",
        vec![("node", v(&row)), ("audits", v(&audits))],
    )
}
