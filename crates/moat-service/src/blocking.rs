//! Work that blocks (large prompts' redaction, policy rebuilds, a wait for a lock held
//! across an fsync) must not hold an async worker: on a runtime with two workers, two
//! such calls would stop every other request, `/healthz` included. (MCP tool work,
//! which is most of a busy server's CPU, runs on tokio's blocking pool behind a slot
//! per core instead: `block_in_place` on every call cost its tail latency.)
//!
//! [`off_the_worker`] runs a future to completion on the current thread after handing
//! the worker's other tasks to another thread (`tokio::task::block_in_place`), so the
//! runtime keeps its full set of workers serving while it runs. Unlike
//! `spawn_blocking` it needs nothing `'static`. On a current-thread runtime (tests,
//! short CLI commands) there are no other workers to keep free and it simply awaits.

use std::future::Future;

pub async fn off_the_worker<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| runtime.block_on(future))
        }
        _ => future.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// How long a short timer task takes to finish while every worker has a task that
    /// blocks its thread for 1.5 s, run inline or [`off_the_worker`].
    fn delay_while_blocked(blocked_off_the_worker: bool) -> Duration {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // More blocking tasks than workers, so every worker gets one.
            for _ in 0..4 {
                tokio::spawn(async move {
                    let blocking = async { std::thread::sleep(Duration::from_millis(1500)) };
                    if blocked_off_the_worker {
                        off_the_worker(blocking).await;
                    } else {
                        blocking.await;
                    }
                });
            }
            // Not a tokio timer: with every worker blocked, none would drive it.
            std::thread::sleep(Duration::from_millis(100));
            let started = Instant::now();
            tokio::spawn(async {}).await.unwrap();
            started.elapsed()
        })
    }

    #[test]
    fn blocked_workers_hand_their_tasks_on() {
        // The measurement can see a stall: blocking inline holds both workers.
        assert!(delay_while_blocked(false) > Duration::from_millis(500));
        assert!(delay_while_blocked(true) < Duration::from_millis(60));
    }
}
