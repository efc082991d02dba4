//! The runner pool: one sandboxed runner per loaded model, each managed by its own thread.
//!
//! The blocking [`Runner`] never runs on the async executor. Every model has a manager
//! thread that owns its runner and takes jobs in arrival order (fair: first come, first
//! served). It starts up to `slots` of them at once, each on a thread of its own sharing the
//! runner, which batches them in one llama.cpp context; the rest wait in a bounded queue (a
//! full queue is a 503). Events go back to the request over a bounded tokio channel. A
//! request that goes away (client disconnect) drops its [`Ticket`], which cancels its
//! generation at once through that generation's own [`CancelHandle`] (the others go on) or,
//! while it still waits, makes the manager skip it.
//!
//! A manager loads its model on first use, unloads it after `keep_alive` without requests
//! (Ollama semantics: `0` unloads right after the request, negative never), and the least
//! recently used model is unloaded when a new one would exceed the loaded-model limit.

mod job;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use secllama_runner::{
    CancelHandle, ChatRequest, CompletionRequest, Done, EmbedRequest, Embeddings, ModelInfo,
};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::ModelEntry;

use self::worker::Worker;

/// Events a request receives, in order: maybe `Loaded`, pieces, then `Done` or `Failed`; or
/// for an embedding request one `Embedded` or `Failed`.
#[derive(Debug)]
pub(crate) enum Event {
    Piece(String),
    Done(Done, Duration),
    Loaded(Duration),
    Embedded(Embeddings, Duration),
    Failed(ApiError),
}

/// What to run.
#[derive(Debug)]
pub(crate) enum Work {
    Complete(CompletionRequest),
    Chat(ChatRequest),
    Embed(EmbedRequest),
    /// Just load the model (an Ollama request with an empty prompt).
    Load,
}

/// A request for a model's manager.
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
    /// A job thread ended; `broken` when the runner session failed under it.
    Finished {
        broken: bool,
    },
    Unload,
}

#[derive(Debug)]
struct TicketState {
    id: u64,
    abandoned: AtomicBool,
    /// Cancels this job's generation while it runs.
    cancel: Mutex<Option<CancelHandle>>,
}

impl TicketState {
    fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }
}

/// Held by the request while it runs; dropping it (the client went away) cancels the job.
pub(crate) struct Ticket {
    state: Arc<TicketState>,
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
        // Set before taking the handle: the job thread checks it under the same lock when
        // it stores the handle, so one of the two always cancels.
        self.state.abandoned.store(true, Ordering::SeqCst);
        if let Some(handle) = lock(&self.state.cancel).take() {
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
    pub(crate) running: usize,
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
    /// Jobs submitted and not started yet.
    queued: AtomicUsize,
    /// Jobs running on the runner now.
    running: AtomicUsize,
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
    /// Layers offloaded to the GPU, and whether the CPU may stand in.
    pub(crate) gpu_layers: u32,
    pub(crate) cpu_fallback: bool,
    /// Requests one runner serves at once (its sequence slots).
    pub(crate) parallel: u32,
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

    /// Queues `work` for `entry`'s runner (starting its manager if needed) and returns the
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
            cancel: Mutex::new(None),
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
        Ok((Ticket { state }, rx))
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
            tx: Mutex::new(tx.clone()),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            status: Mutex::new(Status::default()),
            last_used: Mutex::new(Instant::now()),
            thread: Mutex::new(None),
        });
        let worker = Worker::new(self.clone(), slot.clone(), rx, tx);
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
                        running: s.running.load(Ordering::SeqCst),
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

    /// Stops every manager and waits for the runners to shut down.
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
