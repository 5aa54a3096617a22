//! One stream between the program's standard input/output (or any reader and writer the
//! caller gives) and a target inside the tunnel, as `ssh -W` does: input is copied into the
//! tunnel (its end becomes a FIN), what the target sends is written out, and the session ends
//! when the target closes its side. A reader still blocked then (a terminal's stdin) is left
//! to its thread, which ends with the process or at the reader's next end or error.

use super::connections::Slot;
use super::spec::Target;
use super::stream_copy::{into_tunnel, out_of_tunnel};
use super::Context;
use std::io::{self, Read, Write};
use std::sync::Arc;

pub type StdioReader = Box<dyn Read + Send + Sync>;
pub type StdioWriter = Box<dyn Write + Send + Sync>;

/// Runs the session; (bytes into the tunnel so far, bytes out of it).
pub(crate) fn run(
    ctx: &Arc<Context>,
    slot: Slot,
    target: &Target,
    mut reader: StdioReader,
    mut writer: StdioWriter,
) -> io::Result<u64> {
    let tunnel = Arc::new(
        ctx.connect_tunnel(target)
            .inspect_err(|_| slot.counters().failed.inc())?,
    );
    slot.watch_tunnel(&tunnel)?;
    let (c, t) = (ctx.clone(), tunnel.clone());
    let listener = slot.listener;
    ctx.spawn("stdio-in", move || {
        let counters = c.counters.get(listener);
        if into_tunnel(&mut reader, &t, &counters.to_tunnel).is_err() {
            let _ = t.abort();
        }
    })?;
    let counters = slot.counters();
    let down = out_of_tunnel(&tunnel, &mut writer, &counters.from_tunnel);
    let _ = writer.flush();
    drop(writer);
    down
}
