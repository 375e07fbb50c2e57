//! `cairn job`: submit WebAssembly jobs to a gateway and follow them,
//! through the gateway's jobs API (`/_cairn/jobs`, signed with the S3 key).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use mesh::compute::Limits;
use serde_json::{Value, json};

use crate::gateway_client::GatewayArgs;

/// `cairn job ...`.
#[derive(clap::Subcommand)]
pub enum JobCommand {
    /// Submit a job: one task per input object, run on the nodes holding it.
    Submit(Box<SubmitArgs>),
    /// A job's state, tasks and figures.
    Status {
        /// The job id.
        id: String,
        /// Follow it until it ends.
        #[arg(long)]
        watch: bool,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Every task's log (stderr) and failure.
    Logs {
        /// The job id.
        id: String,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Cancel a job (tasks running finish on their nodes; nothing more
    /// starts).
    Cancel {
        /// The job id.
        id: String,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Your jobs, newest first.
    List {
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
}

/// `cairn job submit`.
#[derive(clap::Args)]
pub struct SubmitArgs {
    /// The module run on each input: WebAssembly binary or text (.wat),
    /// WASI preview 1, reading stdin and writing stdout.
    #[arg(long)]
    wasm: PathBuf,
    /// The inputs: every object under s3://BUCKET/PREFIX.
    #[arg(long, required_unless_present = "cid")]
    input: Option<String>,
    /// Or published content kept by the gateway, by CID (repeatable): any
    /// compute node may run these; outputs are PREFIX + CID.
    #[arg(long, conflicts_with = "input")]
    cid: Vec<String>,
    /// Where outputs go: s3://BUCKET/PREFIX; a task's output is
    /// PREFIX + its input's key.
    #[arg(long)]
    output: String,
    /// A module run once over all outputs (concatenated in input order);
    /// its output is PREFIX + `_reduce`.
    #[arg(long)]
    reduce: Option<PathBuf>,
    /// An argument for the modules (repeatable).
    #[arg(long = "arg", allow_hyphen_values = true)]
    args: Vec<String>,
    /// Fuel per task (about one unit per instruction).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory per task, e.g. 64MiB.
    #[arg(long)]
    memory: Option<String>,
    /// Wall time per task, e.g. 30s.
    #[arg(long)]
    timeout: Option<humantime::Duration>,
    /// Output kept per task, e.g. 16MiB.
    #[arg(long)]
    output_limit: Option<String>,
    /// Run each task on this many distinct nodes (1 or 2) and keep its
    /// output only if they agree.
    #[arg(long, default_value_t = 1)]
    verify: u8,
    /// Follow the job until it ends.
    #[arg(long)]
    wait: bool,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    gateway: GatewayArgs,
}

/// Runs `cairn job`.
pub async fn run(command: JobCommand) -> anyhow::Result<ExitCode> {
    match command {
        JobCommand::Submit(args) => submit(*args).await,
        JobCommand::Status {
            id,
            watch,
            json,
            gateway,
        } => {
            let api = Api::new(gateway)?;
            if watch {
                return follow(&api, &id).await;
            }
            let job = api.get(&format!("jobs/{id}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                print_job(&job, true);
            }
            Ok(exit_of(&job))
        }
        JobCommand::Logs { id, gateway } => {
            let api = Api::new(gateway)?;
            let text = api.get_text(&format!("jobs/{id}/logs")).await?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Cancel { id, gateway } => {
            let api = Api::new(gateway)?;
            api.cancel(&id).await?;
            eprintln!("cancelled {id}");
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::List { json, gateway } => {
            let api = Api::new(gateway)?;
            let jobs = api.get("jobs").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<34} {:<10} {:>6} {:>6} {:>6}  CREATED",
                "JOB", "STATE", "TASKS", "DONE", "FAILED"
            );
            for job in jobs.as_array().into_iter().flatten() {
                let n = |v: &Value| v.as_u64().unwrap_or(0);
                let created = std::time::UNIX_EPOCH + Duration::from_millis(n(&job["created"]));
                println!(
                    "{:<34} {:<10} {:>6} {:>6} {:>6}  {}",
                    job["id"].as_str().unwrap_or(""),
                    job["state"].as_str().unwrap_or(""),
                    n(&job["tasks"]),
                    n(&job["totals"]["done"]),
                    n(&job["totals"]["failed"]),
                    humantime::format_rfc3339_seconds(created)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `s3://BUCKET/PREFIX` as (bucket, prefix).
fn parse_location(text: &str) -> anyhow::Result<(String, String)> {
    let rest = text
        .strip_prefix("s3://")
        .with_context(|| format!("{text:?}: name it s3://BUCKET/PREFIX"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{text:?} names no bucket");
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// A module file as WebAssembly binary (text is assembled).
fn read_module(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    compute::assemble(&bytes).with_context(|| format!("{}", path.display()))
}

async fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let (input_bucket, input_prefix) = match &args.input {
        Some(input) => parse_location(input)?,
        None => (String::new(), String::new()),
    };
    let (output_bucket, output_prefix) = parse_location(&args.output)?;
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
    let module = b64(read_module(&args.wasm)?);
    let reduce = args.reduce.as_ref().map(read_module).transpose()?.map(b64);
    let defaults = Limits::default();
    let size = |text: &Option<String>, default: u64| -> anyhow::Result<u64> {
        match text {
            Some(t) => Ok(t
                .parse::<bytesize::ByteSize>()
                .map_err(|e| anyhow::anyhow!("{t:?}: {e}"))?
                .as_u64()),
            None => Ok(default),
        }
    };
    let limits = Limits {
        fuel: args.fuel.unwrap_or(defaults.fuel),
        memory: size(&args.memory, defaults.memory)?,
        timeout_ms: args.timeout.map_or(defaults.timeout_ms, |d| {
            Duration::from(d).as_millis() as u64
        }),
        output: size(&args.output_limit, defaults.output)?,
        log: defaults.log,
    };
    limits.check()?;
    let body = json!({
        "module": module,
        "reduce": reduce,
        "args": args.args,
        "input_bucket": input_bucket,
        "input_prefix": input_prefix,
        "input_cids": args.cid,
        "output_bucket": output_bucket,
        "output_prefix": output_prefix,
        "limits": limits,
        "verify": args.verify,
    });
    let api = Api::new(args.gateway)?;
    let job = api.submit(serde_json::to_vec(&body)?).await?;
    let id = job["id"]
        .as_str()
        .context("the answer names no job")?
        .to_owned();
    if args.wait {
        eprintln!("job {id}: {} tasks", job["tasks"]);
        return follow(&api, &id).await;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&job)?);
    } else {
        println!("{id}");
        eprintln!(
            "job {id}: {} tasks queued; follow it with `cairn job status {id} --watch`",
            job["tasks"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Shows a live progress line until the job ends, then its summary.
async fn follow(api: &Api, id: &str) -> anyhow::Result<ExitCode> {
    loop {
        let job = api.get(&format!("jobs/{id}")).await?;
        let t = &job["totals"];
        eprint!(
            "\r{:<9} tasks {} done, {} running, {} failed, {} queued; {} processed   ",
            job["state"].as_str().unwrap_or(""),
            t["done"],
            t["running"],
            t["failed"],
            t["queued"],
            bytesize::ByteSize(t["bytes_processed"].as_u64().unwrap_or(0))
        );
        let _ = std::io::stderr().flush();
        if matches!(job["state"].as_str(), Some("done" | "failed" | "cancelled")) {
            eprintln!();
            print_job(&job, false);
            return Ok(exit_of(&job));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn exit_of(job: &Value) -> ExitCode {
    match job["state"].as_str() {
        Some("failed" | "cancelled") => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

fn print_job(job: &Value, tasks: bool) {
    let t = &job["totals"];
    println!("job        {}", job["id"].as_str().unwrap_or(""));
    println!("state      {}", job["state"].as_str().unwrap_or(""));
    if let Some(reason) = job["reason"].as_str() {
        println!("reason     {reason}");
    }
    println!(
        "tasks      {} ({} done, {} running, {} failed, {} queued)",
        job["tasks"], t["done"], t["running"], t["failed"], t["queued"]
    );
    let size = |v: &Value| bytesize::ByteSize(v.as_u64().unwrap_or(0));
    println!(
        "input      {} processed; shards read locally {}, fetched {}",
        size(&t["bytes_processed"]),
        size(&t["read_local"]),
        size(&t["fetched"])
    );
    println!(
        "next to    {} of the tasks done ran on a node holding a data shard of their input",
        t["on_data_holders"]
    );
    if !tasks {
        return;
    }
    for task in job["task_list"].as_array().into_iter().flatten() {
        println!(
            "  {:>5} {:<8} {:<40} {:>10} local {:>10} fetched {:>10} {}",
            task["n"].as_u64().unwrap_or(0),
            task["state"].as_str().unwrap_or("queued"),
            task["key"].as_str().unwrap_or(""),
            size(&task["size"]).to_string(),
            size(&task["read_local"]).to_string(),
            size(&task["fetched"]).to_string(),
            task["failure"].as_str().unwrap_or("")
        );
    }
}

/// The jobs API through the S3 SDK (which signs every request).
struct Api {
    s3: aws_sdk_s3::Client,
}

/// The jobs API's path, as an SDK "bucket" (not a valid bucket name, so
/// the gateway never takes it for one).
const API_BUCKET: &str = "_cairn";

impl Api {
    fn new(gateway: GatewayArgs) -> anyhow::Result<Self> {
        let login = gateway.resolve()?;
        let creds = aws_sdk_s3::config::Credentials::new(
            login.access_key,
            login.secret_key,
            None,
            None,
            "cairn",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(&login.endpoint)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        Ok(Self {
            s3: aws_sdk_s3::Client::from_conf(config),
        })
    }

    async fn submit(&self, body: Vec<u8>) -> anyhow::Result<Value> {
        // A PutObject of the body turned into `POST /_cairn/jobs` before it
        // is signed.
        let answer = self
            .s3
            .put_object()
            .bucket(API_BUCKET)
            .key("jobs")
            .body(ByteStream::from(body))
            .customize()
            .mutate_request(|req| {
                req.set_method("POST").expect("POST is a method");
            })
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => bail!("submitting the job: {}", describe(&e)),
        };
        // PutObject's answer keeps no body; the gateway names the job in
        // its ETag.
        let id = answer
            .e_tag()
            .map(|t| t.trim_matches('"').to_owned())
            .context("the answer names no job")?;
        self.get(&format!("jobs/{id}")).await
    }

    async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let answer = self
            .s3
            .get_object()
            .bucket(API_BUCKET)
            .key(path)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{path}: {}", describe(&e)))?;
        let body = answer.body.collect().await.context("reading the answer")?;
        Ok(String::from_utf8_lossy(&body.into_bytes()).into_owned())
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let text = self.get_text(path).await?;
        serde_json::from_str(&text).context("reading the answer")
    }

    async fn cancel(&self, id: &str) -> anyhow::Result<()> {
        self.s3
            .delete_object()
            .bucket(API_BUCKET)
            .key(format!("jobs/{id}"))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cancelling {id}: {}", describe(&e)))?;
        Ok(())
    }
}

/// An SDK error as its S3 code and message.
fn describe<E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("")
        ),
        None => format!("{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_s3_bucket_prefix() {
        assert_eq!(
            parse_location("s3://b/in/").unwrap(),
            ("b".to_owned(), "in/".to_owned())
        );
        assert_eq!(
            parse_location("s3://b").unwrap(),
            ("b".to_owned(), String::new())
        );
        assert!(parse_location("b/in").is_err());
        assert!(parse_location("s3:///x").is_err());
    }
}
