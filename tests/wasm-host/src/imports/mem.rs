//! Guest-memory access for hostcalls and the status plumbing they share.

use wasmi::{Caller, Memory};

use crate::state::VmState;
use crate::types::Status;

/// The caller handle every hostcall receives.
pub(crate) type C<'a> = Caller<'a, VmState>;

/// Why a hostcall did not succeed: a status returned to the module, or a
/// trap that aborts the callback (host bug or a module without memory).
pub(crate) enum Fail {
    Status(Status),
    Trap(wasmi::Error),
}

impl From<Status> for Fail {
    fn from(s: Status) -> Fail {
        Fail::Status(s)
    }
}

impl From<wasmi::Error> for Fail {
    fn from(e: wasmi::Error) -> Fail {
        Fail::Trap(e)
    }
}

pub(crate) type HostResult<T = ()> = Result<T, Fail>;

/// Converts a hostcall result into the ABI's status code.
pub(crate) fn status_of(r: HostResult) -> Result<i32, wasmi::Error> {
    match r {
        Ok(()) => Ok(Status::Ok as i32),
        Err(Fail::Status(s)) => Ok(s as i32),
        Err(Fail::Trap(e)) => Err(e),
    }
}

fn memory(c: &C<'_>) -> HostResult<Memory> {
    c.data()
        .memory
        .ok_or_else(|| Fail::Trap(wasmi::Error::new("module exports no memory")))
}

fn range(ptr: i32, len: i32) -> HostResult<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .ok_or(Status::InvalidMemoryAccess)?;
    Ok(start..end)
}

/// Copies `len` bytes at `ptr` out of guest memory.
pub(crate) fn read(c: &C<'_>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let mem = memory(c)?;
    let r = range(ptr, len)?;
    mem.data(c)
        .get(r)
        .map(<[u8]>::to_vec)
        .ok_or(Fail::Status(Status::InvalidMemoryAccess))
}

/// Reads a string (lossy UTF-8).
pub(crate) fn read_str(c: &C<'_>, ptr: i32, len: i32) -> HostResult<String> {
    Ok(String::from_utf8_lossy(&read(c, ptr, len)?).into_owned())
}

/// Writes bytes at `ptr`.
pub(crate) fn write(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> HostResult {
    if bytes.is_empty() {
        return Ok(());
    }
    let mem = memory(c)?;
    let r = range(ptr, bytes.len() as i32)?;
    mem.data_mut(c)
        .get_mut(r)
        .ok_or(Fail::Status(Status::InvalidMemoryAccess))?
        .copy_from_slice(bytes);
    Ok(())
}

/// Writes a little-endian u32 at `ptr`.
pub(crate) fn write_u32(c: &mut C<'_>, ptr: i32, v: u32) -> HostResult {
    write(c, ptr, &v.to_le_bytes())
}

/// Writes a little-endian u64 at `ptr`.
pub(crate) fn write_u64(c: &mut C<'_>, ptr: i32, v: u64) -> HostResult {
    write(c, ptr, &v.to_le_bytes())
}

/// Allocates `bytes.len()` bytes with the module's allocator
/// (`proxy_on_memory_allocate` or `malloc`), copies `bytes` there and stores
/// the pointer and size at `ptr_out` / `size_out`. The module owns the
/// allocation afterwards.
pub(crate) fn return_bytes(c: &mut C<'_>, bytes: &[u8], ptr_out: i32, size_out: i32) -> HostResult {
    let alloc = c.data().alloc.ok_or_else(|| {
        Fail::Trap(wasmi::Error::new(
            "module exports neither proxy_on_memory_allocate nor malloc",
        ))
    })?;
    let addr = alloc.call(&mut *c, bytes.len() as i32)?;
    if addr == 0 && !bytes.is_empty() {
        return Err(Fail::Status(Status::InternalFailure));
    }
    write(c, addr, bytes)?;
    write_u32(c, ptr_out, addr as u32)?;
    write_u32(c, size_out, bytes.len() as u32)
}

/// Stores a null pointer and zero size (the SDKs read this as "no value").
pub(crate) fn return_null(c: &mut C<'_>, ptr_out: i32, size_out: i32) -> HostResult {
    write_u32(c, ptr_out, 0)?;
    write_u32(c, size_out, 0)
}
