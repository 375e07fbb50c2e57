//! `GET /pins`: the signed-in key's pin requests (content kept here by its
//! CID) and how each is doing.

use serde::Serialize;

use super::super::{Answer, Console, Ctx, render};
use super::{show, v};

/// One pin as the page shows it.
#[derive(Serialize)]
struct PinRow {
    cid: String,
    name: Option<String>,
    status: String,
    reason: Option<String>,
    attempts: u32,
    created_ago: u64,
}

/// The pins page.
pub async fn page(console: &Console, ctx: &Ctx) -> Answer {
    let pins = match console.inner.pins.list(&ctx.session.access_key).await {
        Ok(pins) => pins,
        Err(e) => {
            return render::html(
                503,
                format!("<p>Metadata: {}</p>", render::escape(&e.to_string())),
            );
        }
    };
    let now = crate::pins::now_ms();
    let mut rows: Vec<(u64, PinRow)> = pins
        .into_iter()
        .map(|p| {
            let r = p.record;
            (
                r.created,
                PinRow {
                    cid: r.pin.cid,
                    name: r.pin.name,
                    status: format!("{:?}", r.status).to_lowercase(),
                    reason: r.reason,
                    attempts: r.attempts,
                    created_ago: now.saturating_sub(r.created) / 1000,
                },
            )
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let rows: Vec<PinRow> = rows.into_iter().map(|(_, r)| r).collect();
    show(
        console,
        ctx,
        "pins.html",
        "Pins",
        "pins",
        vec![("pins", v(rows))],
    )
}
