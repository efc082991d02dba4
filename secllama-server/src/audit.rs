//! The audit log: one JSON line per request, written by a background thread.
//!
//! A line has the time, peer, method, endpoint, model, status, token counts, duration, and the
//! short id of the token used (`token`; see [`ApiToken::id`](crate::ApiToken::id)); never the
//! token, prompts or outputs. It is written when the response body ends or is dropped, so a
//! stream the client abandons is logged too (`"completed": false`).

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::metrics::Metrics;

/// Where audit lines go.
pub(crate) struct AuditSink {
    tx: Mutex<mpsc::Sender<String>>,
}

impl AuditSink {
    /// Starts the writer thread over `out`.
    pub(crate) fn new(mut out: Box<dyn Write + Send>) -> Self {
        let (tx, rx) = mpsc::channel::<String>();
        let spawned = std::thread::Builder::new()
            .name("audit log".into())
            .spawn(move || {
                for line in rx {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.flush();
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the audit log thread; audit lines are lost");
        }
        AuditSink { tx: Mutex::new(tx) }
    }

    fn write(&self, record: &AuditLine<'_>) {
        if let Ok(mut line) = serde_json::to_string(record) {
            line.push('\n');
            let tx = self
                .tx
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = tx.send(line);
        }
    }
}

/// What handlers add to a request's audit line.
#[derive(Debug, Default, Clone)]
pub(crate) struct AuditFields {
    pub(crate) model: Option<String>,
    pub(crate) prompt_tokens: Option<u64>,
    pub(crate) eval_tokens: Option<u64>,
    pub(crate) completed: Option<bool>,
}

/// Shared between the middleware and the handler of one request.
pub(crate) type AuditHandle = Arc<Mutex<AuditFields>>;

pub(crate) fn update(handle: &AuditHandle, f: impl FnOnce(&mut AuditFields)) {
    f(&mut handle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner));
}

#[derive(Serialize)]
struct AuditLine<'a> {
    time: String,
    peer: &'a str,
    method: &'a str,
    endpoint: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<bool>,
    duration_ms: f64,
    token: Option<&'a str>,
}

/// Writes the request's line when dropped (at the end of the response body).
pub(crate) struct AuditGuard {
    pub(crate) sink: Arc<AuditSink>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) fields: AuditHandle,
    pub(crate) peer: String,
    pub(crate) method: String,
    pub(crate) endpoint: String,
    pub(crate) status: u16,
    pub(crate) token: Option<String>,
    pub(crate) started: Instant,
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        let elapsed: Duration = self.started.elapsed();
        let fields = self
            .fields
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        self.metrics.request(&self.endpoint, self.status, elapsed);
        self.sink.write(&AuditLine {
            time: crate::time::rfc3339(SystemTime::now()),
            peer: &self.peer,
            method: &self.method,
            endpoint: &self.endpoint,
            status: self.status,
            model: fields.model.as_deref(),
            prompt_tokens: fields.prompt_tokens,
            eval_tokens: fields.eval_tokens,
            completed: fields.completed,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            token: self.token.as_deref(),
        });
    }
}
