//! The runner pool: one sandboxed runner per loaded model, each driven by its own thread.
//!
//! The blocking [`Runner`] never runs on the async executor: every model has a worker thread
//! that owns its runner and takes jobs from a FIFO queue (fair: first come, first served;
//! bounded: a full queue is a 503). Events go back to the request over a bounded tokio
//! channel. A request that goes away (client disconnect) drops its [`Ticket`], which cancels
//! its generation at once through the runner's [`CancelHandle`] or, while it still waits in
//! the queue, makes the worker skip it.
//!
//! A worker loads its model on first use, unloads it after `keep_alive` without requests
//! (Ollama semantics: `0` unloads right after the request, negative never), and the least
//! recently used model is unloaded when a new one would exceed the loaded-model limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use secllama_runner::{
    CancelHandle, ChatRequest, CompletionRequest, Done, ModelInfo, Runner, RunnerConfig,
    RunnerError, StreamEvent,
};

use crate::error::{ApiError, from_runner};
use crate::metrics::Metrics;
use crate::registry::ModelEntry;

/// Events a request receives from its worker, in order: maybe `Loaded`, pieces, then `Done`
/// or `Failed`.
#[derive(Debug)]
pub(crate) enum Event {
    Piece(String),
    Done(Done, Duration),
    Loaded(Duration),
    Failed(ApiError),
}

/// What to run.
#[derive(Debug)]
pub(crate) enum Work {
    Complete(CompletionRequest),
    Chat(ChatRequest),
    /// Just load the model (an Ollama request with an empty prompt).
    Load,
}

/// A request for a model's worker.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) context_length: u32,
    /// `None`: the server default; `Some(None)`: forever; `Some(Some(d))`: `d`.
    pub(crate) keep_alive: Option<Option<Duration>>,
    pub(crate) events: tokio::sync::mpsc::Sender<Event>,
    ticket: Arc<TicketState>,
}

enum Msg {
    Job(Job),
    Unload,
}

#[derive(Debug)]
struct TicketState {
    id: u64,
    abandoned: AtomicBool,
}

/// Held by the request while it runs; dropping it (the client went away) cancels the job.
pub(crate) struct Ticket {
    state: Arc<TicketState>,
    slot: Arc<Slot>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("id", &self.state.id)
            .finish()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.state.abandoned.store(true, Ordering::SeqCst);
        let current = lock(&self.slot.current);
        if *current == Some(self.state.id)
            && let Some(handle) = lock(&self.slot.cancel).as_ref()
        {
            let _ = handle.cancel();
        }
    }
}

/// A loaded (or loading) model as `/api/ps` shows it.
#[derive(Clone, Debug)]
pub(crate) struct LoadedModel {
    pub(crate) entry: ModelEntry,
    pub(crate) info: Option<ModelInfo>,
    pub(crate) pid: Option<u32>,
    pub(crate) sandbox_enforced: Option<bool>,
    pub(crate) encrypted: bool,
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) queued: usize,
}

#[derive(Default)]
struct Status {
    info: Option<ModelInfo>,
    pid: Option<u32>,
    sandbox_enforced: Option<bool>,
    encrypted: bool,
    expires_at: Option<SystemTime>,
}

struct Slot {
    entry: ModelEntry,
    tx: Mutex<mpsc::Sender<Msg>>,
    queued: AtomicUsize,
    current: Mutex<Option<u64>>,
    cancel: Mutex<Option<CancelHandle>>,
    status: Mutex<Status>,
    last_used: Mutex<Instant>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Limits and defaults of the pool.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) queue_limit: usize,
    pub(crate) max_loaded: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) threads: Option<u32>,
}

pub(crate) struct Pool {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    config: PoolConfig,
    next_ticket: AtomicU64,
    metrics: Arc<Metrics>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Pool {
    pub(crate) fn new(config: PoolConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Pool {
            slots: Mutex::new(HashMap::new()),
            config,
            next_ticket: AtomicU64::new(1),
            metrics,
        })
    }

    /// Queues `work` for `entry`'s runner (starting its worker if needed) and returns the
    /// ticket that keeps the job alive and the receiver of its events.
    pub(crate) fn submit(
        self: &Arc<Self>,
        entry: &ModelEntry,
        work: Work,
        context_length: u32,
        keep_alive: Option<Option<Duration>>,
    ) -> Result<(Ticket, tokio::sync::mpsc::Receiver<Event>), ApiError> {
        let (events, rx) = tokio::sync::mpsc::channel(64);
        let state = Arc::new(TicketState {
            id: self.next_ticket.fetch_add(1, Ordering::Relaxed),
            abandoned: AtomicBool::new(false),
        });
        let job = Job {
            work,
            context_length,
            keep_alive,
            events,
            ticket: state.clone(),
        };
        let mut slots = lock(&self.slots);
        let slot = match slots.get(&entry.name) {
            Some(slot) if slot.entry == *entry => slot.clone(),
            _ => {
                if let Some(old) = slots.remove(&entry.name) {
                    // The registry entry changed (re-added): retire the old runner.
                    let _ = lock(&old.tx).send(Msg::Unload);
                }
                self.evict_for_new(&mut slots);
                let slot = self.start_worker(entry)?;
                slots.insert(entry.name.clone(), slot.clone());
                slot
            }
        };
        if slot.queued.load(Ordering::SeqCst) >= self.config.queue_limit {
            self.metrics.queue_full();
            return Err(ApiError::unavailable(format!(
                "{} already has {} requests waiting; try again later",
                entry.name, self.config.queue_limit
            )));
        }
        slot.queued.fetch_add(1, Ordering::SeqCst);
        self.metrics.queue_delta(1);
        if lock(&slot.tx).send(Msg::Job(job)).is_err() {
            slot.queued.fetch_sub(1, Ordering::SeqCst);
            self.metrics.queue_delta(-1);
            return Err(ApiError::unavailable(
                "the model's worker has stopped; retry",
            ));
        }
        *lock(&slot.last_used) = Instant::now();
        Ok((Ticket { state, slot }, rx))
    }

    fn evict_for_new(&self, slots: &mut HashMap<String, Arc<Slot>>) {
        while slots.len() >= self.config.max_loaded {
            let Some(lru) = slots
                .iter()
                .min_by_key(|(_, s)| *lock(&s.last_used))
                .map(|(name, _)| name.clone())
            else {
                return;
            };
            if let Some(slot) = slots.remove(&lru) {
                tracing::info!(model = %lru, "unloading the least recently used model");
                let _ = lock(&slot.tx).send(Msg::Unload);
            }
        }
    }

    fn start_worker(self: &Arc<Self>, entry: &ModelEntry) -> Result<Arc<Slot>, ApiError> {
        let (tx, rx) = mpsc::channel();
        let slot = Arc::new(Slot {
            entry: entry.clone(),
            tx: Mutex::new(tx),
            queued: AtomicUsize::new(0),
            current: Mutex::new(None),
            cancel: Mutex::new(None),
            status: Mutex::new(Status::default()),
            last_used: Mutex::new(Instant::now()),
            thread: Mutex::new(None),
        });
        let worker = Worker {
            pool: self.clone(),
            slot: slot.clone(),
            rx,
            runner: None,
            runner_context: 0,
            keep_alive: Some(self.config.keep_alive),
        };
        let handle = std::thread::Builder::new()
            .name(format!("runner {}", entry.name))
            .spawn(move || worker.run())
            .map_err(|e| ApiError::unavailable(format!("cannot start a worker thread: {e}")))?;
        *lock(&slot.thread) = Some(handle);
        Ok(slot)
    }

    /// The loaded models, most recently used first.
    pub(crate) fn loaded(&self) -> Vec<LoadedModel> {
        let slots: Vec<Arc<Slot>> = lock(&self.slots).values().cloned().collect();
        let mut out: Vec<(Instant, LoadedModel)> = slots
            .iter()
            .map(|s| {
                let st = lock(&s.status);
                (
                    *lock(&s.last_used),
                    LoadedModel {
                        entry: s.entry.clone(),
                        info: st.info.clone(),
                        pid: st.pid,
                        sandbox_enforced: st.sandbox_enforced,
                        encrypted: st.encrypted,
                        expires_at: st.expires_at,
                        queued: s.queued.load(Ordering::SeqCst),
                    },
                )
            })
            .filter(|(_, m)| m.info.is_some())
            .collect();
        out.sort_by_key(|m| std::cmp::Reverse(m.0));
        out.into_iter().map(|(_, m)| m).collect()
    }

    /// Unloads `name` now (after its queued requests); true if it was loaded.
    pub(crate) fn unload(&self, name: &str) -> bool {
        let slot = lock(&self.slots).remove(name);
        slot.is_some_and(|s| lock(&s.tx).send(Msg::Unload).is_ok())
    }

    /// Stops every worker and waits for the runners to shut down.
    pub(crate) fn shutdown(&self) {
        let slots: Vec<Arc<Slot>> = lock(&self.slots).drain().map(|(_, s)| s).collect();
        for s in &slots {
            let _ = lock(&s.tx).send(Msg::Unload);
        }
        for s in slots {
            if let Some(h) = lock(&s.thread).take() {
                let _ = h.join();
            }
        }
    }
}

struct Worker {
    pool: Arc<Pool>,
    slot: Arc<Slot>,
    rx: mpsc::Receiver<Msg>,
    runner: Option<Runner>,
    /// The context length the runner was started with.
    runner_context: u32,
    /// `None`: keep loaded until unloaded or evicted.
    keep_alive: Option<Duration>,
}

impl Worker {
    fn run(mut self) {
        loop {
            let msg = match self.keep_alive {
                Some(d) if self.runner.is_some() => match self.rx.recv_timeout(d) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        tracing::info!(model = %self.slot.entry.name, "keep_alive expired");
                        break;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                _ => match self.rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            match msg {
                Msg::Job(job) => {
                    self.job(job);
                    if self.keep_alive == Some(Duration::ZERO) {
                        break;
                    }
                }
                Msg::Unload => break,
            }
        }
        // Leave the pool (unless already replaced), then finish what was queued before.
        {
            let mut slots = lock(&self.pool.slots);
            if slots
                .get(&self.slot.entry.name)
                .is_some_and(|s| Arc::ptr_eq(s, &self.slot))
            {
                slots.remove(&self.slot.entry.name);
            }
        }
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Job(job) = msg {
                self.job(job);
            }
        }
        self.unload();
    }

    fn unload(&mut self) {
        *lock(&self.slot.cancel) = None;
        if let Some(runner) = self.runner.take() {
            let name = &self.slot.entry.name;
            match runner.shutdown() {
                Ok(status) => tracing::info!(model = %name, %status, "runner unloaded"),
                Err(e) => tracing::warn!(model = %name, error = %e, "runner shutdown failed"),
            }
        }
        *lock(&self.slot.status) = Status::default();
        self.pool
            .metrics
            .set_runner_rss(&self.slot.entry.name, None);
    }

    fn job(&mut self, job: Job) {
        self.slot.queued.fetch_sub(1, Ordering::SeqCst);
        self.pool.metrics.queue_delta(-1);
        if let Some(k) = job.keep_alive {
            self.keep_alive = k;
        } else {
            self.keep_alive = Some(self.pool.config.keep_alive);
        }
        if job.ticket.abandoned.load(Ordering::SeqCst) {
            return;
        }
        let load = match self.ensure_runner(job.context_length) {
            Ok(load) => load,
            Err(e) => {
                let _ = job.events.blocking_send(Event::Failed(from_runner(&e)));
                return;
            }
        };
        self.generate(job, load);
        *lock(&self.slot.last_used) = Instant::now();
        let expires = self
            .keep_alive
            .and_then(|d| SystemTime::now().checked_add(d));
        lock(&self.slot.status).expires_at = expires;
    }

    /// Starts the runner if none runs or it has another context length; the load time when
    /// it had to start one.
    fn ensure_runner(&mut self, context_length: u32) -> Result<Option<Duration>, RunnerError> {
        if self.runner.is_some() {
            if self.runner_context == context_length {
                return Ok(None);
            }
            self.unload();
        }
        let entry = &self.slot.entry;
        let mut config = RunnerConfig::new(&entry.path)?
            .with_sha256(entry.sha256.clone())
            .with_context_length(context_length);
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
        *lock(&self.slot.cancel) = Some(runner.cancel_handle());
        tracing::info!(model = %entry.name, pid = ?runner.pid(), ?startup, "runner loaded");
        self.runner = Some(runner);
        self.runner_context = context_length;
        Ok(Some(startup))
    }

    fn generate(&mut self, job: Job, load: Option<Duration>) {
        let Some(runner) = self.runner.as_mut() else {
            return;
        };
        let broken = drive(
            runner,
            &self.slot,
            &self.pool.metrics,
            job,
            load.unwrap_or_default(),
        );
        *lock(&self.slot.current) = None;
        if broken {
            tracing::warn!(model = %self.slot.entry.name, "runner session broken; it restarts on the next request");
            self.unload();
        }
    }
}

/// Runs one job on `runner`, sending its events; true when the runner session broke.
fn drive(runner: &mut Runner, slot: &Slot, metrics: &Metrics, job: Job, load: Duration) -> bool {
    let events = &job.events;
    let started = {
        let mut current = lock(&slot.current);
        if job.ticket.abandoned.load(Ordering::SeqCst) {
            return false;
        }
        let started = match job.work {
            Work::Load => {
                let _ = events.blocking_send(Event::Loaded(load));
                return false;
            }
            Work::Complete(req) => runner.complete(req),
            Work::Chat(req) => runner.chat(req),
        };
        if started.is_ok() {
            *current = Some(job.ticket.id);
        }
        started
    };
    let mut generation = match started {
        Ok(g) => g,
        Err(e) => {
            let _ = events.blocking_send(Event::Failed(from_runner(&e)));
            return !is_request_error(&e);
        }
    };
    let mut gone = false;
    while let Some(ev) = generation.next() {
        match ev {
            Ok(StreamEvent::Piece(p)) if !gone => {
                if events.blocking_send(Event::Piece(p)).is_err() {
                    gone = true;
                    let _ = generation.cancel();
                }
            }
            Ok(StreamEvent::Piece(_)) => {}
            Ok(StreamEvent::Done(done)) => {
                // Not current any more before the request hears of it, so its ticket never
                // cancels a finished request.
                *lock(&slot.current) = None;
                metrics.tokens(done.metrics.prompt_eval_count, done.metrics.eval_count);
                if done.reason == secllama_runner::StopReason::Cancelled {
                    metrics.cancelled();
                }
                let _ = events.blocking_send(Event::Done(done, load));
                return false;
            }
            Err(e) => {
                let _ = events.blocking_send(Event::Failed(from_runner(&e)));
                return !is_request_error(&e);
            }
        }
    }
    false
}

fn is_request_error(e: &RunnerError) -> bool {
    matches!(
        e,
        RunnerError::InvalidRequest(_) | RunnerError::PromptTooLong { .. }
    )
}
