//! A model's manager thread: owns the runner, starts jobs up to the runner's slots, queues
//! the rest in arrival order, restarts the runner for another context length or after a
//! broken session, and unloads it when its keep-alive runs out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use secllama_runner::{Runner, RunnerConfig, RunnerError};

use super::job::run_job;
use super::{Job, Msg, Pool, Slot, Status, lock};
use crate::error::from_runner;

use super::Event;

pub(super) struct Worker {
    pool: Arc<Pool>,
    slot: Arc<Slot>,
    rx: mpsc::Receiver<Msg>,
    /// Given to job threads, which report their end on it.
    tx: mpsc::Sender<Msg>,
    runner: Option<Arc<Runner>>,
    /// The context length the runner was started with.
    runner_context: u32,
    /// `None`: keep loaded until unloaded or evicted.
    keep_alive: Option<Duration>,
    /// Jobs received and not started, oldest first.
    pending: VecDeque<Job>,
    /// Job threads still running (or finished and not joined).
    jobs: Vec<JoinHandle<()>>,
    running: usize,
    /// A job saw the runner session break: restart it once the others are done.
    broken: bool,
    /// Unloading: finish what is queued, take nothing new.
    stopping: bool,
}

impl Worker {
    pub(super) fn new(
        pool: Arc<Pool>,
        slot: Arc<Slot>,
        rx: mpsc::Receiver<Msg>,
        tx: mpsc::Sender<Msg>,
    ) -> Self {
        let keep_alive = Some(pool.config.keep_alive);
        Worker {
            pool,
            slot,
            rx,
            tx,
            runner: None,
            runner_context: 0,
            keep_alive,
            pending: VecDeque::new(),
            jobs: Vec::new(),
            running: 0,
            broken: false,
            stopping: false,
        }
    }

    fn idle(&self) -> bool {
        self.running == 0 && self.pending.is_empty()
    }

    pub(super) fn run(mut self) {
        loop {
            self.start_ready();
            if self.idle() {
                if self.stopping {
                    // Anything that raced in before the pool forgot this model still runs.
                    match self.rx.try_recv() {
                        Ok(msg) => {
                            self.handle(msg);
                            continue;
                        }
                        Err(_) => break,
                    }
                }
                if self.runner.is_some() && self.keep_alive == Some(Duration::ZERO) {
                    self.stop();
                    continue;
                }
            }
            let msg = match self.keep_alive {
                Some(d) if self.runner.is_some() && self.idle() && !self.stopping => {
                    match self.rx.recv_timeout(d) {
                        Ok(m) => m,
                        Err(RecvTimeoutError::Timeout) => {
                            tracing::info!(model = %self.slot.entry.name, "keep_alive expired");
                            self.stop();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                _ => match self.rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            self.handle(msg);
        }
        self.unload();
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Job(job) => self.pending.push_back(job),
            Msg::Finished { broken } => {
                self.running = self.running.saturating_sub(1);
                self.slot.running.store(self.running, Ordering::SeqCst);
                self.broken |= broken;
                *lock(&self.slot.last_used) = Instant::now();
                let expires = self
                    .keep_alive
                    .and_then(|d| SystemTime::now().checked_add(d));
                lock(&self.slot.status).expires_at = expires;
                self.jobs.retain(|h| !h.is_finished());
            }
            Msg::Unload => self.stop(),
        }
    }

    /// Leaves the pool (unless already replaced); queued jobs still run.
    fn stop(&mut self) {
        self.stopping = true;
        let mut slots = lock(&self.pool.slots);
        if slots
            .get(&self.slot.entry.name)
            .is_some_and(|s| Arc::ptr_eq(s, &self.slot))
        {
            slots.remove(&self.slot.entry.name);
        }
    }

    fn dequeued(&self) {
        self.slot.queued.fetch_sub(1, Ordering::SeqCst);
        self.pool.metrics.queue_delta(-1);
    }

    /// Starts queued jobs, oldest first, while a slot is free and the runner fits the job.
    fn start_ready(&mut self) {
        let parallel = usize::try_from(self.pool.config.parallel.max(1)).unwrap_or(1);
        // Requests whose client went away while waiting leave the queue at once.
        let before = self.pending.len();
        self.pending.retain(|j| !j.ticket.abandoned());
        for _ in self.pending.len()..before {
            self.dequeued();
        }
        while let Some(front) = self.pending.front() {
            let other_context =
                self.runner.is_some() && self.runner_context != front.context_length;
            if self.broken || other_context {
                if self.running > 0 {
                    return;
                }
                if self.broken {
                    tracing::warn!(model = %self.slot.entry.name, "runner session broken; restarting it");
                }
                self.broken = false;
                self.unload();
            }
            if self.running >= parallel {
                return;
            }
            let Some(job) = self.pending.pop_front() else {
                return;
            };
            self.dequeued();
            self.keep_alive = job.keep_alive.unwrap_or(Some(self.pool.config.keep_alive));
            let load = match self.ensure_runner(job.context_length) {
                Ok(load) => load,
                Err(e) => {
                    let _ = job.events.blocking_send(Event::Failed(from_runner(&e)));
                    continue;
                }
            };
            self.spawn_job(job, load.unwrap_or_default());
        }
    }

    fn spawn_job(&mut self, job: Job, load: Duration) {
        let Some(runner) = self.runner.clone() else {
            return;
        };
        let metrics = self.pool.metrics.clone();
        let done = self.tx.clone();
        let events = job.events.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("request {}", job.ticket.id))
            .spawn(move || run_job(&runner, &metrics, job, load, &done));
        match spawned {
            Ok(handle) => {
                self.jobs.push(handle);
                self.running += 1;
                self.slot.running.store(self.running, Ordering::SeqCst);
            }
            Err(e) => {
                let _ = events.blocking_send(Event::Failed(crate::error::ApiError::unavailable(
                    format!("cannot start a request thread: {e}"),
                )));
            }
        }
    }

    /// Waits for the job threads, then shuts the runner down.
    fn unload(&mut self) {
        for h in self.jobs.drain(..) {
            let _ = h.join();
        }
        if let Some(runner) = self.runner.take() {
            let name = &self.slot.entry.name;
            match Arc::try_unwrap(runner) {
                Ok(runner) => match runner.shutdown() {
                    Ok(status) => tracing::info!(model = %name, %status, "runner unloaded"),
                    Err(e) => tracing::warn!(model = %name, error = %e, "runner shutdown failed"),
                },
                // Not reachable once the job threads are joined; dropping it shuts it down.
                Err(runner) => drop(runner),
            }
        }
        *lock(&self.slot.status) = Status::default();
        self.pool
            .metrics
            .set_runner_rss(&self.slot.entry.name, None);
    }

    /// Starts the runner if none runs; the load time when it had to start one.
    fn ensure_runner(&mut self, context_length: u32) -> Result<Option<Duration>, RunnerError> {
        if self.runner.is_some() {
            return Ok(None);
        }
        let entry = &self.slot.entry;
        let mut config = RunnerConfig::new(&entry.path)?
            .with_sha256(entry.sha256.clone())
            .with_context_length(context_length)
            .with_slots(self.pool.config.parallel)
            .with_gpu_layers(self.pool.config.gpu_layers)
            .with_cpu_fallback(self.pool.config.cpu_fallback);
        if let Some(t) = self.pool.config.threads {
            config = config.with_threads(t);
        }
        let runner = Runner::spawn(config)?;
        let startup = runner.startup_duration();
        let report = runner.sandbox_report();
        let enforced = report.map(secllama_runner::SandboxReport::is_fully_enforced);
        if enforced == Some(false) {
            self.pool.metrics.sandbox_degraded();
        }
        *lock(&self.slot.status) = Status {
            info: Some(runner.model_info().clone()),
            pid: runner.pid(),
            sandbox_enforced: enforced,
            encrypted: runner.is_encrypted(),
            expires_at: None,
        };
        self.pool.metrics.set_runner_rss(&entry.name, runner.pid());
        tracing::info!(model = %entry.name, pid = ?runner.pid(), ?startup, "runner loaded");
        self.runner = Some(Arc::new(runner));
        self.runner_context = context_length;
        Ok(Some(startup))
    }
}
