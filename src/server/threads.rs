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
//!
//! Threads can be pinned, each to its own core (`serve --pin-threads`). Left to itself, the
//! scheduler was seen under load to stack both threads of a 2-core machine on one core while the
//! other sat idle between the load generator's short bursts (too short for it to pull a thread
//! over): each thread then waited a whole 4 ms tick for the other, and HTTP/1.1's p99 was
//! 2.2–3.5 ms instead of 0.9–1.3 ms. A pinned thread cannot move away from a core that another
//! process keeps busy, though, so by default (`auto`) threads are pinned only on cores given to
//! the process alone: a CPU set smaller than the machine's with one CPU per thread, as the
//! kubelet's static CPU manager gives a Guaranteed pod with whole CPUs. `on` also pins on a
//! machine of its own (a set of every online CPU); `off` never pins.

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

/// Whether the connection threads are pinned to cores (`serve --pin-threads`; see the module).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PinThreads {
    /// Pinned when the process's CPU set has one CPU per thread and is not the whole machine.
    #[default]
    Auto,
    /// Pinned whenever the process's CPU set has one CPU per thread.
    On,
    /// Left to the scheduler.
    Off,
}

impl std::str::FromStr for PinThreads {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown value {other:?} (expected auto, on or off)"
            )),
        }
    }
}

impl ConnectionThreads {
    /// One thread per core available to the process (its cgroup's CPU quota included), pinned
    /// as `pin` says.
    pub(super) fn start(pin: PinThreads) -> std::io::Result<Self> {
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        let cores = match (pin, allowed_cpus()) {
            (PinThreads::Off, _) => None,
            (_, Err(error)) => {
                tracing::debug!(%error, "Cannot read the CPUs the process may run on");
                None
            }
            (pin, Ok(cpus)) => one_core_each(pin, &cpus, online_cpus(), n),
        };
        match &cores {
            Some(cpus) => tracing::info!(threads = n, ?cpus, "Connection threads pinned"),
            None => tracing::info!(threads = n, "Connection threads"),
        }
        Self::with(n, cores)
    }

    /// `n` threads; with `cores`, thread `i` is pinned to `cores[i]`.
    fn with(n: usize, cores: Option<Vec<usize>>) -> std::io::Result<Self> {
        let mut pool = Self {
            queues: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            next: 0,
        };
        for i in 0..n.max(1) {
            let core = cores.as_ref().and_then(|c| c.get(i).copied());
            let (tx, mut rx) = unbounded_channel::<Hand>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let thread = std::thread::Builder::new()
                .name(format!("webhook-{i}"))
                .spawn(move || {
                    if let Some(cpu) = core
                        && let Err(error) = pin_to(cpu)
                    {
                        tracing::warn!(%error, cpu, "Cannot pin a connection thread");
                    }
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

/// The core of each of `threads` threads, when `pin` says so for a process that may run on
/// `cpus` of a machine with `online` CPUs: only with exactly one CPU per thread (more to share,
/// under a CPU quota, and the threads may need to move), and with `auto` only when those are not
/// the whole machine (cores of its own, not a shared pool). `online` is `None` when unknown.
fn one_core_each(
    pin: PinThreads,
    cpus: &[usize],
    online: Option<usize>,
    threads: usize,
) -> Option<Vec<usize>> {
    let own = match pin {
        PinThreads::Off => false,
        PinThreads::On => true,
        PinThreads::Auto => online.is_some_and(|n| cpus.len() < n),
    };
    (own && cpus.len() == threads).then(|| cpus.to_vec())
}

/// The machine's online CPUs (the host's, in a container).
#[cfg(unix)]
fn online_cpus() -> Option<usize> {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0)
}

#[cfg(not(unix))]
fn online_cpus() -> Option<usize> {
    None
}

/// The CPUs the calling thread may run on (its affinity mask; the process's, before any pin).
#[cfg(target_os = "linux")]
fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: an all-zero `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed; pid 0 is the caller.
    let got =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if got != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let size = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    // SAFETY: every index is below CPU_SETSIZE, the set's capacity.
    Ok((0..size)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Runs the calling thread on `cpu` only.
#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) -> std::io::Result<()> {
    let size = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    if cpu >= size {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    // SAFETY: an all-zero `cpu_set_t` is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; the kernel only reads it.
    let set = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_: usize) -> std::io::Result<()> {
    Ok(())
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
        let mut pool = ConnectionThreads::with(2, None).expect("threads");
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

    /// Threads are pinned only when the process has exactly one CPU per thread, each to its
    /// own; by default only when those CPUs are not the whole machine.
    #[test]
    fn cores_are_shared_out_only_when_there_is_one_per_thread() {
        use PinThreads::{Auto, Off, On};
        // A Guaranteed pod with 2 whole CPUs of a 16-CPU node (static CPU manager).
        assert_eq!(one_core_each(Auto, &[3, 5], Some(16), 2), Some(vec![3, 5]));
        assert_eq!(one_core_each(On, &[3, 5], Some(16), 2), Some(vec![3, 5]));
        assert_eq!(one_core_each(Off, &[3, 5], Some(16), 2), None);
        // A 2-CPU machine: its own only when said so.
        assert_eq!(one_core_each(Auto, &[0, 1], Some(2), 2), None);
        assert_eq!(one_core_each(On, &[0, 1], Some(2), 2), Some(vec![0, 1]));
        assert_eq!(one_core_each(Auto, &[0, 1], None, 2), None);
        // A quota of 2 CPUs on an 8-CPU node: the threads may need to move.
        let node: Vec<usize> = (0..8).collect();
        assert_eq!(one_core_each(Auto, &node, Some(8), 2), None);
        assert_eq!(one_core_each(On, &node, Some(8), 2), None);
        assert_eq!(one_core_each(On, &[], Some(2), 1), None);
    }

    /// A pinned thread runs on its core only: its own affinity mask, read on the thread, is
    /// that one CPU.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_pinned_thread_runs_on_its_core_only() {
        let cpus = allowed_cpus().expect("sched_getaffinity");
        let cores: Vec<usize> = cpus.iter().rev().take(2).copied().collect();
        let mut pool = ConnectionThreads::with(cores.len(), Some(cores.clone())).expect("threads");
        let (tx, mut rx) = unbounded_channel();
        for _ in 0..cores.len() {
            let tx = tx.clone();
            pool.hand(Box::new(move || {
                let name = std::thread::current().name().map(str::to_string);
                let _ = tx.send((name, allowed_cpus().ok()));
            }));
        }
        let mut seen = Vec::new();
        for _ in 0..cores.len() {
            seen.push(rx.recv().await.expect("reported"));
        }
        seen.sort();
        let want: Vec<(Option<String>, Option<Vec<usize>>)> = cores
            .iter()
            .enumerate()
            .map(|(i, &cpu)| (Some(format!("webhook-{i}")), Some(vec![cpu])))
            .collect();
        assert_eq!(seen, want);
        pool.stop().await;
    }
}
