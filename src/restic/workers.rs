//! The threads a restic file is restored on: long-lived, as many as restores have run at
//! once, instead of tokio's blocking pool. Each glibc thread keeps an allocator arena of its
//! own, and a blob's buffers (up to 8 MiB, read, decompressed) left in the arenas of the
//! pool's many short-lived threads were most of a drill's peak memory (~120 of 220 MiB
//! over 10,000 files); kept on a few threads they stay in a few arenas.
//!
//! Must not: run a task on the async runtime's threads, or lose a task's result silently (a
//! task that panics drops its sender: the caller sees the restore stopped).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::oneshot;

type Task = Box<dyn FnOnce() + Send>;

struct Pool {
    /// Threads waiting for a task.
    idle: usize,
    tasks: Sender<Task>,
    queue: Arc<Mutex<Receiver<Task>>>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

/// Runs `f` on a worker thread (a new one only when none is idle); its result comes through
/// the receiver, which is cancelled if `f` panics or no thread can be started.
pub fn spawn<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> oneshot::Receiver<R> {
    let (tx, rx) = oneshot::channel();
    let task: Task = Box::new(move || {
        let _ = tx.send(f());
    });
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let pool = pool.get_or_insert_with(|| {
        let (tasks, queue) = channel();
        Pool {
            idle: 0,
            tasks,
            queue: Arc::new(Mutex::new(queue)),
        }
    });
    if pool.idle > 0 {
        pool.idle -= 1;
    } else {
        let queue = pool.queue.clone();
        let started = std::thread::Builder::new()
            .name("restic-restore".into())
            .spawn(move || work(&queue));
        if started.is_err() {
            return rx; // the task and its sender dropped: the receiver is cancelled
        }
    }
    let _ = pool.tasks.send(task);
    rx
}

/// A worker: takes tasks one at a time, and counts itself idle between them.
fn work(queue: &Mutex<Receiver<Task>>) {
    loop {
        let task = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(task) = task else { return };
        task();
        if let Some(pool) = POOL.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            pool.idle += 1;
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
