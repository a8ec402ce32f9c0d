//! The threads a restic file is restored on: long-lived, as many as restores have run at
//! once, instead of tokio's blocking pool. Each glibc thread keeps an allocator arena of its
//! own, and a blob's buffers (up to 8 MiB, read, decompressed) left in the arenas of the
//! pool's many short-lived threads were most of a drill's peak memory (~120 of 220 MiB
//! over 10,000 files); kept on a few threads they stay in a few arenas.
//!
//! There are never more threads than tasks given at once (`restores` at a time): a thread
//! starts only when every thread there is has a task, queued or running.
//!
//! Must not: run a task on the async runtime's threads, or lose a task's result silently (a
//! task that panics drops its sender: the caller sees the restore stopped).

use std::sync::{Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender};

use futures::channel::oneshot;

type Task = Box<dyn FnOnce() + Send>;

struct Pool {
    /// Threads started.
    threads: usize,
    /// Tasks given and not yet done (queued or running).
    pending: usize,
    tasks: Sender<Task>,
    /// Every thread takes its next task from here, the first free one first.
    queue: Receiver<Task>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// Runs `f` on a worker thread (a new one only when every thread has a task); its result
/// comes through the receiver, which is cancelled if `f` panics or no thread can be started.
pub fn spawn<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> oneshot::Receiver<R> {
    let (tx, rx) = oneshot::channel();
    let task: Task = Box::new(move || {
        let done = Done;
        let result = f();
        // Counted done before the caller hears of it, so its next task finds this thread
        // free rather than starting another.
        drop(done);
        let _ = tx.send(result);
    });
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let pool = pool.get_or_insert_with(|| {
        let (tasks, queue) = crossbeam_channel::unbounded();
        Pool {
            threads: 0,
            pending: 0,
            tasks,
            queue,
        }
    });
    pool.pending += 1;
    if pool.pending > pool.threads {
        let queue = pool.queue.clone();
        let started = std::thread::Builder::new()
            .name("restic-restore".into())
            .spawn(move || work(&queue));
        if started.is_err() {
            pool.pending -= 1;
            return rx; // the task and its sender dropped: the receiver is cancelled
        }
        pool.threads += 1;
    }
    let _ = pool.tasks.send(task);
    rx
}

/// A worker: takes tasks one at a time; one that panics ends only itself.
fn work(queue: &Receiver<Task>) {
    while let Ok(task) = queue.recv() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
    }
}

/// A task's count in `Pool::pending`, given back when it is done (or unwinds).
struct Done;

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(pool) = POOL.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            pool.pending -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_and_a_panic_cancels_only_its_own_task() {
        let a = spawn(|| 1 + 1);
        let b = spawn(|| -> u32 { panic!("boom") });
        let c = spawn(|| "after");
        assert_eq!(futures::executor::block_on(a), Ok(2));
        assert!(futures::executor::block_on(b).is_err());
        assert_eq!(futures::executor::block_on(c), Ok("after"));
    }
}
