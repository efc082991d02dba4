//! `/metrics`: counters and gauges in the Prometheus text format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The server's counters. Cheap to update from any thread.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), (u64, f64)>>,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    queue_depth: AtomicI64,
    runners: Mutex<BTreeMap<String, u32>>,
    sandbox_degraded: AtomicU64,
    rate_limited: AtomicU64,
    queue_full: AtomicU64,
    cancelled: AtomicU64,
}

impl Metrics {
    pub(crate) fn request(&self, endpoint: &str, status: u16, latency: Duration) {
        let mut m = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = m.entry((endpoint.to_owned(), status)).or_default();
        e.0 += 1;
        e.1 += latency.as_secs_f64();
    }
    pub(crate) fn tokens(&self, prompt: u64, generated: u64) {
        self.tokens_in.fetch_add(prompt, Ordering::Relaxed);
        self.tokens_out.fetch_add(generated, Ordering::Relaxed);
    }
    pub(crate) fn queue_delta(&self, d: i64) {
        self.queue_depth.fetch_add(d, Ordering::SeqCst);
    }
    pub(crate) fn sandbox_degraded(&self) {
        self.sandbox_degraded.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn queue_full(&self) {
        self.queue_full.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set_runner_rss(&self, model: &str, pid: Option<u32>) {
        let mut r = self
            .runners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match pid {
            Some(pid) => r.insert(model.to_owned(), pid),
            None => r.remove(model),
        };
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP secllama_requests_total HTTP requests by endpoint and status.\n\
             # TYPE secllama_requests_total counter"
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for ((endpoint, status), (n, _)) in &requests {
            let _ = writeln!(
                out,
                "secllama_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP secllama_request_duration_seconds Time to the end of the response.\n\
             # TYPE secllama_request_duration_seconds summary"
        );
        for ((endpoint, status), (n, sum)) in &requests {
            let labels = format!("endpoint=\"{endpoint}\",status=\"{status}\"");
            let _ = writeln!(
                out,
                "secllama_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "secllama_request_duration_seconds_count{{{labels}}} {n}"
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "secllama_prompt_tokens_total",
            "Prompt tokens evaluated.",
            self.tokens_in.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "secllama_generated_tokens_total",
            "Tokens generated.",
            self.tokens_out.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "secllama_sandbox_degraded_total",
            "Runners started with a sandbox layer not fully enforced.",
            self.sandbox_degraded.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "secllama_rate_limited_total",
            "Requests refused by the rate limit (429).",
            self.rate_limited.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "secllama_queue_full_total",
            "Requests refused because the model's queue was full (503).",
            self.queue_full.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "secllama_cancelled_total",
            "Generations stopped because the client went away.",
            self.cancelled.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP secllama_queue_depth Requests waiting for a runner.\n\
             # TYPE secllama_queue_depth gauge\nsecllama_queue_depth {}",
            self.queue_depth.load(Ordering::SeqCst).max(0)
        );
        let runners = self
            .runners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let _ = writeln!(
            out,
            "# HELP secllama_loaded_runners Runner processes with a loaded model.\n\
             # TYPE secllama_loaded_runners gauge\nsecllama_loaded_runners {}",
            runners.len()
        );
        let _ = writeln!(
            out,
            "# HELP secllama_runner_rss_bytes Resident memory of each runner process.\n\
             # TYPE secllama_runner_rss_bytes gauge"
        );
        for (model, pid) in &runners {
            if let Some(rss) = rss_bytes(*pid) {
                let _ = writeln!(
                    out,
                    "secllama_runner_rss_bytes{{model=\"{}\"}} {rss}",
                    escape_label(model)
                );
            }
        }
        out
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Resident set size of `pid` from `/proc/PID/statm` (Linux), in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_every_family_and_the_counted_values() {
        let m = Metrics::default();
        m.request("/api/generate", 200, Duration::from_millis(1500));
        m.request("/api/generate", 200, Duration::from_millis(500));
        m.tokens(7, 11);
        m.rate_limited();
        m.set_runner_rss("me:latest", Some(std::process::id()));
        let text = m.render();
        assert!(
            text.contains("secllama_requests_total{endpoint=\"/api/generate\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("secllama_request_duration_seconds_sum{endpoint=\"/api/generate\",status=\"200\"} 2\n"), "{text}");
        assert!(text.contains("secllama_prompt_tokens_total 7\n"));
        assert!(text.contains("secllama_generated_tokens_total 11\n"));
        assert!(text.contains("secllama_rate_limited_total 1\n"));
        assert!(text.contains("secllama_loaded_runners 1\n"));
        assert!(text.contains("secllama_runner_rss_bytes{model=\"me:latest\"} "));
    }
}
