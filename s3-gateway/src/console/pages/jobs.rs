//! `GET /jobs` (the signed-in key's compute jobs) and `GET /jobs/<id>`
//! (one job: its tasks, where they ran, and their logs).

use serde::Serialize;

use super::super::{Answer, Console, Ctx, render};
use super::{not_found, show, v};

/// One job in the list.
#[derive(Serialize)]
struct JobRow {
    id: String,
    state: String,
    tasks: u32,
    created_ago: u64,
    reason: Option<String>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The jobs page.
pub async fn page(console: &Console, ctx: &Ctx) -> Answer {
    let jobs = match console
        .inner
        .jobs
        .jobs(Some(ctx.session.access_key.as_str()))
        .await
    {
        Ok(jobs) => jobs,
        Err(e) => {
            return render::html(
                503,
                format!("<p>Metadata: {}</p>", render::escape(&e.to_string())),
            );
        }
    };
    let now = now_ms();
    let mut rows: Vec<(u64, JobRow)> = jobs
        .into_iter()
        .map(|j| {
            (
                j.created,
                JobRow {
                    id: j.id,
                    state: format!("{:?}", j.state).to_lowercase(),
                    tasks: j.tasks,
                    created_ago: now.saturating_sub(j.created) / 1000,
                    reason: j.reason,
                },
            )
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let rows: Vec<JobRow> = rows.into_iter().map(|(_, r)| r).collect();
    show(
        console,
        ctx,
        "jobs.html",
        "Compute jobs",
        "jobs",
        vec![("jobs", v(rows))],
    )
}

/// One job's page.
pub async fn job(console: &Console, ctx: &Ctx, id: &str) -> Answer {
    let store = &console.inner.jobs;
    let Ok(Some(job)) = store.job(&ctx.session.access_key, id).await else {
        return not_found(console, ctx);
    };
    let tasks = store.tasks(id).await.unwrap_or_default();
    let title = format!("Job {}", render::short(id));
    show(
        console,
        ctx,
        "jobs.html",
        &title,
        "jobs",
        vec![
            ("job", v(&job)),
            ("state", v(format!("{:?}", job.state).to_lowercase())),
            ("task_list", v(&tasks)),
        ],
    )
}
