//! One task on one compute node, over the compute protocol
//! ([`mesh::compute`]).

use futures_util::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, StreamProtocol};
use mesh::compute::{
    COMPUTE_PROTOCOL, ComputeRequest, ComputeResponse, LIVENESS, TaskReport, TaskSpec,
};
use mesh::wire;

/// What a node sent back for a task that ran.
#[derive(Debug)]
pub struct Ran {
    /// How it ended.
    pub report: TaskReport,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

/// Why a task did not run to an end on a node.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The node refused it; `retry`: it was busy (a later try may
    /// succeed there).
    #[error("refused: {reason}")]
    Refused {
        /// Why.
        reason: String,
        /// Whether it was only busy.
        retry: bool,
    },
    /// The node said nothing for [`LIVENESS`].
    #[error("the node went silent")]
    Silent,
    /// The stream failed (the node died or the connection broke).
    #[error("the node was lost: {0}")]
    Lost(String),
}

/// Runs `spec` on `peer`, sending `module` if the node lacks it; waits as
/// long as the node says it is alive.
pub async fn run_on(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    spec: &TaskSpec,
    module: &[u8],
) -> Result<Ran, DispatchError> {
    let lost = |e: &dyn std::fmt::Display| DispatchError::Lost(e.to_string());
    let mut stream = tokio::time::timeout(
        LIVENESS,
        control.open_stream(peer, StreamProtocol::new(COMPUTE_PROTOCOL)),
    )
    .await
    .map_err(|_| DispatchError::Silent)?
    .map_err(|e| lost(&e))?;
    let run = ComputeRequest::Run(Box::new(spec.clone()));
    wire::write_frame(&mut stream, &run)
        .await
        .map_err(|e| lost(&e))?;
    loop {
        let answer: ComputeResponse = tokio::time::timeout(LIVENESS, wire::read_frame(&mut stream))
            .await
            .map_err(|_| DispatchError::Silent)?
            .map_err(|e| lost(&e))?;
        match answer {
            ComputeResponse::NeedModule => {
                let header = ComputeRequest::Module {
                    len: module.len() as u64,
                };
                wire::write_frame(&mut stream, &header)
                    .await
                    .map_err(|e| lost(&e))?;
                stream.write_all(module).await.map_err(|e| lost(&e))?;
                stream.flush().await.map_err(|e| lost(&e))?;
            }
            ComputeResponse::Started | ComputeResponse::Alive { .. } => {}
            ComputeResponse::Refused { reason, retry } => {
                return Err(DispatchError::Refused { reason, retry });
            }
            ComputeResponse::Done(report) => {
                // A node does not get to make the gateway hold more than
                // the task's own limits.
                if report.stdout_len > spec.limits.output || report.stderr_len > spec.limits.log {
                    return Err(DispatchError::Lost(
                        "the node sent more output than the limits allow".into(),
                    ));
                }
                let mut stdout = vec![0u8; report.stdout_len as usize];
                let mut stderr = vec![0u8; report.stderr_len as usize];
                tokio::time::timeout(LIVENESS * 6, async {
                    stream.read_exact(&mut stdout).await?;
                    stream.read_exact(&mut stderr).await
                })
                .await
                .map_err(|_| DispatchError::Silent)?
                .map_err(|e| lost(&e))?;
                return Ok(Ran {
                    report,
                    stdout,
                    stderr,
                });
            }
        }
    }
}
