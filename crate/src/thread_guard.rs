//! Threads whose panic is an event, not a crash or a hang.
//!
//! Every thread the crate starts goes through [`spawn_guarded`]: the thread's body runs under
//! `catch_unwind`, and a panic calls `on_panic(thread name, panic message)` on that thread
//! instead of ending it silently (the default panic hook has already printed the usual
//! `thread '…' panicked at …` line to stderr). The device's hook reports an error event and
//! stops the device (`device/mod.rs`), the UAPI server's hook tells its handler
//! (`uapi/server.rs`). The panic never reaches a Node-API frame: the release profile unwinds
//! (`panic = "unwind"`, Cargo's default), and a panic escaping `on_panic` itself is swallowed.
//!
//! Test builds (`cfg(test)`) have a fault-injection hook: [`fault::arm`] makes the next thread
//! whose name is exactly the armed name panic as it starts, inside the guard.

use std::any::Any;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;

/// The message of a panic payload (`panic!("…")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Starts a thread named `name` running `body`; if `body` panics, `on_panic` runs on that
/// thread with the name and the panic message. Fails only if the OS refuses the thread.
pub fn spawn_guarded<F, P>(name: String, on_panic: P, body: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
    P: FnOnce(&str, &str) + Send + 'static,
{
    let thread_name = name.clone();
    std::thread::Builder::new().name(name).spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(test)]
            fault::maybe_panic(&thread_name);
            body()
        }));
        if let Err(payload) = outcome {
            let message = panic_message(&*payload);
            // A payload whose destructor panics would unwind out of the thread: drop it under
            // its own guard (a second panic only leaks the inner payload).
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            let _ = catch_unwind(AssertUnwindSafe(move || on_panic(&thread_name, &message)));
        }
    })
}

/// Fault injection for tests: panics chosen threads as they start.
#[cfg(test)]
pub mod fault {
    use std::sync::Mutex;

    static ARMED: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// The next thread named exactly `thread` panics at its start (once).
    pub fn arm(thread: &str) {
        ARMED.lock().unwrap_or_else(|e| e.into_inner()).push(thread.to_string());
    }

    pub(super) fn maybe_panic(thread: &str) {
        let hit = {
            let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
            match armed.iter().position(|t| t == thread) {
                Some(i) => {
                    armed.remove(i);
                    true
                }
                None => false,
            }
        };
        if hit {
            panic!("fault injected into {thread}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn a_panic_reaches_the_hook_with_its_message() {
        let (tx, rx) = channel();
        let h = spawn_guarded(
            "wgkit-guard-t1".into(),
            move |t, m| tx.send((t.to_string(), m.to_string())).unwrap(),
            || {
                let words: Vec<&str> = Vec::new();
                let _ = words.first().copied().expect("nothing here");
            },
        )
        .unwrap();
        h.join().expect("the guard keeps the panic inside the thread");
        assert_eq!(
            rx.recv().unwrap(),
            ("wgkit-guard-t1".to_string(), "nothing here".to_string())
        );
    }

    #[test]
    fn no_panic_no_hook_and_injected_faults_fire_once() {
        let (tx, rx) = channel::<()>();
        spawn_guarded("wgkit-guard-t2".into(), move |_, _| tx.send(()).unwrap(), || {})
            .unwrap()
            .join()
            .unwrap();
        assert!(rx.recv().is_err(), "hook dropped unused");

        fault::arm("wgkit-guard-t3");
        let (tx, rx) = channel();
        let tx2 = tx.clone();
        spawn_guarded(
            "wgkit-guard-t3".into(),
            move |_, m| tx.send(m.to_string()).unwrap(),
            || {},
        )
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(rx.recv().unwrap(), "fault injected into wgkit-guard-t3");
        spawn_guarded(
            "wgkit-guard-t3".into(),
            move |_, m| tx2.send(m.to_string()).unwrap(),
            || {},
        )
        .unwrap()
        .join()
        .unwrap();
        assert!(rx.recv().is_err(), "armed once");
    }

    #[test]
    fn a_panicking_hook_stays_inside() {
        spawn_guarded("wgkit-guard-t4".into(), |_, _| panic!("hook"), || panic!("body"))
            .unwrap()
            .join()
            .expect("neither panic leaves the thread");
    }
}
