//! The part of WASI preview 1 (`wasi_snapshot_preview1`) that Rust std on
//! wasm32-wasip1 and the Proxy-Wasm spec need: stdio goes to the captured
//! log, every clock reads the virtual clock, randomness is a deterministic
//! stream, there are no arguments, environment variables or preopened files,
//! and `proc_exit` aborts the callback.

use super::mem::{read, write, write_u32, write_u64, Fail, HostResult, C};
use super::Registry;

const WASI: &str = "wasi_snapshot_preview1";

const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const FAULT: i32 = 21;
const INVAL: i32 = 28;
const NOTSUP: i32 = 58;
const SPIPE: i32 = 70;

/// Maps a WASI implementation's result to its errno: memory faults become
/// `FAULT`, traps stay traps.
fn errno(r: HostResult<i32>) -> Result<i32, wasmi::Error> {
    match r {
        Ok(e) => Ok(e),
        Err(Fail::Status(_)) => Ok(FAULT),
        Err(Fail::Trap(e)) => Err(e),
    }
}

macro_rules! wasi {
    ($reg:expr, $name:literal, $imp:path, ($($arg:ident : $t:ty),*)) => {
        $reg.func(
            WASI,
            $name,
            |mut c: wasmi::Caller<'_, $crate::state::VmState>, $($arg: $t),*| -> Result<i32, wasmi::Error> {
                errno($imp(&mut c, $($arg),*))
            },
        )
    };
}

pub(super) fn register(reg: &mut Registry<'_>) {
    wasi!(reg, "fd_write", fd_write, (fd: i32, iovs: i32, iovs_len: i32, nwritten: i32));
    wasi!(reg, "fd_read", fd_read, (fd: i32, iovs: i32, iovs_len: i32, nread: i32));
    wasi!(reg, "fd_close", fd_close, (fd: i32));
    wasi!(reg, "fd_seek", fd_seek, (fd: i32, offset: i64, whence: i32, ret: i32));
    wasi!(reg, "fd_fdstat_get", fd_fdstat_get, (fd: i32, ret: i32));
    wasi!(reg, "fd_prestat_get", fd_prestat_get, (fd: i32, ret: i32));
    wasi!(reg, "fd_prestat_dir_name", fd_prestat_dir_name, (fd: i32, ptr: i32, len: i32));
    wasi!(reg, "environ_sizes_get", zero_sizes, (count: i32, size: i32));
    wasi!(reg, "environ_get", nothing_to_list, (list: i32, buf: i32));
    wasi!(reg, "args_sizes_get", zero_sizes, (count: i32, size: i32));
    wasi!(reg, "args_get", nothing_to_list, (list: i32, buf: i32));
    wasi!(reg, "clock_time_get", clock_time_get, (id: i32, precision: i64, ret: i32));
    wasi!(reg, "clock_res_get", clock_res_get, (id: i32, ret: i32));
    wasi!(reg, "random_get", random_get, (ptr: i32, len: i32));
    wasi!(reg, "sched_yield", sched_yield, ());
    wasi!(reg, "poll_oneoff", poll_oneoff, (subs: i32, events: i32, n: i32, ret: i32));
    reg.func(
        WASI,
        "proc_exit",
        |mut c: wasmi::Caller<'_, crate::state::VmState>, code: i32| -> Result<(), wasmi::Error> {
            c.data_mut()
                .host_warn(format!("module called proc_exit({code}): the VM is dead"));
            Err(wasmi::Error::i32_exit(code))
        },
    );
}

fn fd_write(c: &mut C<'_>, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32) -> HostResult<i32> {
    if fd != 1 && fd != 2 {
        return Ok(BADF);
    }
    let mut data = Vec::new();
    for i in 0..iovs_len.max(0) {
        let iov = read(c, iovs.wrapping_add(i * 8), 8)?;
        let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
        let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
        data.extend_from_slice(&read(c, ptr, len)?);
    }
    write_u32(c, nwritten, data.len() as u32)?;
    c.data_mut().stdio_write((fd - 1) as usize, &data);
    Ok(SUCCESS)
}

fn fd_read(_c: &mut C<'_>, _fd: i32, _iovs: i32, _iovs_len: i32, _nread: i32) -> HostResult<i32> {
    Ok(BADF)
}

fn fd_close(_c: &mut C<'_>, fd: i32) -> HostResult<i32> {
    Ok(if (0..=2).contains(&fd) { SUCCESS } else { BADF })
}

fn fd_seek(_c: &mut C<'_>, fd: i32, _offset: i64, _whence: i32, _ret: i32) -> HostResult<i32> {
    Ok(if (0..=2).contains(&fd) { SPIPE } else { BADF })
}

/// stdio are character devices; nothing else exists.
fn fd_fdstat_get(c: &mut C<'_>, fd: i32, ret: i32) -> HostResult<i32> {
    if !(0..=2).contains(&fd) {
        return Ok(BADF);
    }
    let mut stat = [0u8; 24];
    stat[0] = 2; // filetype: character_device
    let rights: u64 = if fd == 0 { 1 << 1 } else { 1 << 6 }; // fd_read / fd_write
    stat[8..16].copy_from_slice(&rights.to_le_bytes());
    write(c, ret, &stat)?;
    Ok(SUCCESS)
}

fn fd_prestat_get(_c: &mut C<'_>, _fd: i32, _ret: i32) -> HostResult<i32> {
    Ok(BADF)
}

fn fd_prestat_dir_name(_c: &mut C<'_>, _fd: i32, _ptr: i32, _len: i32) -> HostResult<i32> {
    Ok(BADF)
}

fn zero_sizes(c: &mut C<'_>, count: i32, size: i32) -> HostResult<i32> {
    write_u32(c, count, 0)?;
    write_u32(c, size, 0)?;
    Ok(SUCCESS)
}

fn nothing_to_list(_c: &mut C<'_>, _list: i32, _buf: i32) -> HostResult<i32> {
    Ok(SUCCESS)
}

/// Realtime, monotonic and CPU-time clocks all read the virtual clock.
fn clock_time_get(c: &mut C<'_>, id: i32, _precision: i64, ret: i32) -> HostResult<i32> {
    if !(0..=3).contains(&id) {
        return Ok(NOTSUP);
    }
    let now = c.data().env.now_ns();
    write_u64(c, ret, now)?;
    Ok(SUCCESS)
}

fn clock_res_get(c: &mut C<'_>, id: i32, ret: i32) -> HostResult<i32> {
    if !(0..=3).contains(&id) {
        return Ok(NOTSUP);
    }
    write_u64(c, ret, 1)?;
    Ok(SUCCESS)
}

fn random_get(c: &mut C<'_>, ptr: i32, len: i32) -> HostResult<i32> {
    if !(0..=1 << 20).contains(&len) {
        return Ok(INVAL);
    }
    let mut bytes = Vec::with_capacity(len as usize + 8);
    while bytes.len() < len as usize {
        let v = c.data_mut().next_random();
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.truncate(len as usize);
    write(c, ptr, &bytes)?;
    Ok(SUCCESS)
}

fn sched_yield(_c: &mut C<'_>) -> HostResult<i32> {
    Ok(SUCCESS)
}

fn poll_oneoff(c: &mut C<'_>, _subs: i32, _events: i32, _n: i32, _ret: i32) -> HostResult<i32> {
    c.data_mut()
        .host_warn("poll_oneoff called (thread::sleep?): not supported in a proxy".to_string());
    Ok(NOTSUP)
}
