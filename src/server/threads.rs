//! The threads that serve the webhook's connections.
//!
//! One thread per available core, each running a single-threaded runtime of its own. An
//! accepted connection is handed to one of them in turn and stays there: its TLS, its reviews
//! and its answers run on one thread, with no work stealing and no wake-up of another thread
//! for its next request. Under load on two cores, tokio's multi-threaded scheduler spent about
//! a sixth of a request's CPU on those (HTTP/2's per-stream tasks more). The rest of the
//! server — the accept loop, the admin port, the live view — stays on the main runtime.
//!
//! On Linux each thread also asks the scheduler for a short time slice (`sched_setattr`, honoured
//! by EEVDF since Linux 6.12, ignored before): a thread woken by a request then preempts a
//! CPU-bound neighbour sooner, and the answer waits less behind it.

use std::time::Duration;

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// Starts serving one accepted connection; runs on the thread that will serve it.
pub(super) type Hand = Box<dyn FnOnce() + Send>;

/// The time slice a connection thread asks for (the kernel's default is 0.7–3 ms).
const SLICE: Duration = Duration::from_micros(200);

/// The connection threads (see the module).
pub(super) struct ConnectionThreads {
    queues: Vec<UnboundedSender<Hand>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: usize,
}

impl ConnectionThreads {
    /// One thread per core available to the process (its cgroup's CPU quota included).
    pub(super) fn start() -> std::io::Result<Self> {
        Self::with(std::thread::available_parallelism().map_or(1, usize::from))
    }

    fn with(n: usize) -> std::io::Result<Self> {
        let mut pool = Self {
            queues: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            next: 0,
        };
        for i in 0..n.max(1) {
            let (tx, mut rx) = unbounded_channel::<Hand>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let thread = std::thread::Builder::new()
                .name(format!("webhook-{i}"))
                .spawn(move || {
                    if let Err(error) = request_slice(SLICE) {
                        tracing::debug!(%error, "Cannot ask for a short time slice");
                    }
                    // Ends once the server lets go of the queue; connections still open then
                    // (past the shutdown deadline) are dropped with the runtime.
                    runtime.block_on(async move {
                        while let Some(hand) = rx.recv().await {
                            hand();
                        }
                    });
                })?;
            pool.queues.push(tx);
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Hands a connection to the next thread, in turn.
    pub(super) fn hand(&mut self, hand: Hand) {
        let at = self.next % self.queues.len();
        self.next = self.next.wrapping_add(1);
        if self.queues[at].send(hand).is_err() {
            tracing::error!(
                thread = at,
                "A connection thread is gone; connection dropped"
            );
        }
    }

    /// Lets the threads end and waits for them.
    pub(super) async fn stop(self) {
        drop(self.queues);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// Asks the scheduler to run the calling thread in slices of `slice`, keeping its policy and
/// nice value.
#[cfg(target_os = "linux")]
fn request_slice(slice: Duration) -> std::io::Result<()> {
    /// `struct sched_attr` of sched_setattr(2), its first version.
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let size = std::mem::size_of::<SchedAttr>() as u32;
    let mut attr = SchedAttr::default();
    // SAFETY: `attr` is a valid, writable `sched_attr` of `size` bytes for the call; pid 0 is
    // the calling thread.
    let got = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &raw mut attr,
            libc::c_ulong::from(size),
            0,
        )
    };
    if got != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if attr.policy != libc::SCHED_OTHER as u32 {
        return Ok(()); // a real-time or batch policy set from outside stays as it is
    }
    attr.size = size;
    attr.runtime = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
    // SAFETY: as above; the kernel only reads `attr`.
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const attr, 0) };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn request_slice(_: Duration) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Connections go to the threads in turn, each served on its thread, and stopping waits
    /// for every thread to end.
    #[tokio::test]
    async fn connections_go_to_the_threads_in_turn_and_stop_ends_them() {
        let mut pool = ConnectionThreads::with(2).expect("threads");
        let served = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, mut done) = unbounded_channel();
        for i in 0..6 {
            let (served, done_tx) = (served.clone(), done_tx.clone());
            pool.hand(Box::new(move || {
                // Spawned on the thread's own runtime, as a connection is.
                tokio::spawn(async move {
                    let thread = std::thread::current().name().map(str::to_string);
                    served.lock().expect("lock").push((i, thread));
                    let _ = done_tx.send(());
                });
            }));
        }
        for _ in 0..6 {
            done.recv().await.expect("served");
        }
        let mut served = served.lock().expect("lock").clone();
        served.sort();
        let want: Vec<(i32, Option<String>)> = (0..6)
            .map(|i| (i, Some(format!("webhook-{}", i % 2))))
            .collect();
        assert_eq!(served, want);
        let threads: Vec<std::thread::Thread> =
            pool.threads.iter().map(|t| t.thread().clone()).collect();
        pool.stop().await;
        assert_eq!(threads.len(), 2);
    }

    /// On a kernel that keeps a slice per thread (EEVDF, Linux ≥ 6.12, shown in
    /// `/proc/thread-self/sched`), the thread runs with the slice it asked for.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_gets_the_slice_it_asks_for() {
        let slice = std::thread::spawn(|| {
            request_slice(Duration::from_micros(300)).expect("sched_setattr");
            std::fs::read_to_string("/proc/thread-self/sched").ok()
        })
        .join()
        .expect("thread");
        let shown = slice.as_deref().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("se.slice"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        });
        match shown {
            Some(ns) => assert_eq!(ns, "300000"),
            // An older kernel: the call is accepted and the slice is the kernel's own.
            None => eprintln!("no se.slice in /proc/thread-self/sched on this kernel"),
        }
    }
}
