//! One request on a thread of its own, sharing the model's runner with the others in
//! flight: a generation streamed piece by piece, an embedding, or just the load.

use std::sync::mpsc;
use std::time::Duration;

use secllama_runner::{Runner, RunnerError, StopReason, StreamEvent};

use super::{Event, Job, Msg, Work, lock};
use crate::error::from_runner;
use crate::metrics::Metrics;

/// Tells the manager the job ended, also if it panicked.
struct Finished<'a> {
    done: &'a mpsc::Sender<Msg>,
    broken: bool,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let _ = self.done.send(Msg::Finished {
            broken: self.broken,
        });
    }
}

pub(super) fn run_job(
    runner: &Runner,
    metrics: &Metrics,
    job: Job,
    load: Duration,
    done: &mpsc::Sender<Msg>,
) {
    let mut finished = Finished {
        done,
        broken: false,
    };
    if job.ticket.abandoned() {
        return;
    }
    finished.broken = match job.work {
        Work::Load => {
            let _ = job.events.blocking_send(Event::Loaded(load));
            false
        }
        Work::Embed(_) => embed(runner, metrics, job, load),
        Work::Complete(_) | Work::Chat(_) => generate(runner, metrics, job, load),
    };
}

fn embed(runner: &Runner, metrics: &Metrics, job: Job, load: Duration) -> bool {
    let Work::Embed(request) = job.work else {
        return false;
    };
    match runner.embed(request) {
        Ok(out) => {
            metrics.tokens(out.prompt_eval_count, 0);
            let _ = job.events.blocking_send(Event::Embedded(out, load));
            false
        }
        Err(e) => {
            let _ = job.events.blocking_send(Event::Failed(from_runner(&e)));
            !is_request_error(&e)
        }
    }
}

/// Runs one generation, sending its events; true when the runner session broke.
fn generate(runner: &Runner, metrics: &Metrics, job: Job, load: Duration) -> bool {
    let events = &job.events;
    let started = match job.work {
        Work::Complete(req) => runner.complete(req),
        Work::Chat(req) => runner.chat(req),
        Work::Load | Work::Embed(_) => return false,
    };
    let mut generation = match started {
        Ok(g) => g,
        Err(e) => {
            let _ = events.blocking_send(Event::Failed(from_runner(&e)));
            return !is_request_error(&e);
        }
    };
    {
        let mut cancel = lock(&job.ticket.cancel);
        if job.ticket.abandoned() {
            drop(cancel);
            let _ = generation.cancel();
        } else {
            *cancel = Some(generation.cancel_handle());
        }
    }
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
                // Not cancellable any more before the request hears of it, so its ticket
                // never cancels a finished request.
                lock(&job.ticket.cancel).take();
                metrics.tokens(done.metrics.prompt_eval_count, done.metrics.eval_count);
                if done.reason == StopReason::Cancelled {
                    metrics.cancelled();
                }
                let _ = events.blocking_send(Event::Done(done, load));
                return false;
            }
            Err(e) => {
                lock(&job.ticket.cancel).take();
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
