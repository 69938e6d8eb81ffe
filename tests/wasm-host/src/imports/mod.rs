//! Every function the host offers to modules, grouped by area. Registration
//! keeps the list of implemented `(module, name)` pairs so that a module
//! importing anything else is refused at load time with the names missing.

mod context;
mod grpc;
mod higress;
mod http;
pub(crate) mod mem;
mod shared;
mod wasi;

use wasmi::{IntoFunc, Linker};

use crate::state::VmState;

/// Registers hostcalls and remembers their names.
pub(crate) struct Registry<'a> {
    linker: &'a mut Linker<VmState>,
    names: Vec<(&'static str, &'static str)>,
}

impl Registry<'_> {
    pub(crate) fn func<Params, Results>(
        &mut self,
        module: &'static str,
        name: &'static str,
        f: impl IntoFunc<VmState, Params, Results>,
    ) {
        if let Err(e) = self.linker.func_wrap(module, name, f) {
            // Only possible when one name is registered twice: a host bug.
            panic!("registering {module}.{name}: {e}");
        }
        self.names.push((module, name));
    }
}

/// Defines a hostcall whose body is `$imp(&mut caller, args..) -> HostResult`
/// and whose return value is a Proxy-Wasm status.
macro_rules! hostcall {
    ($reg:expr, $module:expr, $name:literal, $imp:path, ($($arg:ident : $t:ty),*)) => {
        $reg.func(
            $module,
            $name,
            |mut c: wasmi::Caller<'_, $crate::state::VmState>, $($arg: $t),*| -> Result<i32, wasmi::Error> {
                $crate::imports::mem::status_of($imp(&mut c, $($arg),*))
            },
        )
    };
}
pub(crate) use hostcall;

/// Builds a linker with every hostcall and returns the implemented names.
pub(crate) fn linker(
    engine: &wasmi::Engine,
) -> (Linker<VmState>, Vec<(&'static str, &'static str)>) {
    let mut linker = Linker::new(engine);
    let mut reg = Registry {
        linker: &mut linker,
        names: Vec::new(),
    };
    context::register(&mut reg);
    http::register(&mut reg);
    shared::register(&mut reg);
    grpc::register(&mut reg);
    higress::register(&mut reg);
    wasi::register(&mut reg);
    let names = reg.names;
    (linker, names)
}

/// Every `(module, name)` import the host implements.
pub fn implemented_imports() -> Vec<(&'static str, &'static str)> {
    let engine = wasmi::Engine::default();
    linker(&engine).1
}
