//! What a module is, read from its bytes before wasmtime compiles it: which mode it was built
//! for (an imported memory: `--wasm-shared`; a `fh_region` export: the copying mode), and, for
//! shared mode, the instructions it may not contain.
//!
//! A shared-mode guest may not use `memory.copy`, `memory.fill` or `memory.init` (wasmtime runs
//! them as host code on the guest's memory: a write into the read-only ring there would fault
//! outside wasm code and kill the process instead of trapping), nor `memory.atomic.wait32/64`
//! (a wait is not interrupted by the deadline: it could hold its ring cursor forever).

use wasmtime::wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef};

/// The memory import names a shared-mode module may use: fh's, and wasm-ld's default
/// (`--import-memory` names it `env.memory` before LLVM 16).
pub const MEMORY_IMPORTS: [(&str, &str); 2] = [("fh", "memory"), ("env", "memory")];

/// What [`scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The imported memory (`module.name`), if any.
    pub memory_import: Option<String>,
    /// Exports a function `fh_region` (a copying-mode module).
    pub exports_region: bool,
    /// The first instruction a shared-mode module may not use: (function index, instruction).
    pub forbidden: Option<(u32, &'static str)>,
}

/// Reads `wasm` (binary); `Err` with wasmparser's words when it cannot be parsed (wasmtime
/// then reports it as it does any invalid module).
pub fn scan(wasm: &[u8]) -> Result<Scan, String> {
    let mut s = Scan::default();
    let mut imported_funcs = 0u32;
    let mut body = 0u32;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| e.to_string())? {
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    let imp = imp.map_err(|e| e.to_string())?;
                    match imp.ty {
                        TypeRef::Memory(_) if s.memory_import.is_none() => {
                            s.memory_import = Some(format!("{}.{}", imp.module, imp.name));
                        }
                        TypeRef::Func(_) => imported_funcs += 1,
                        _ => {}
                    }
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(|e| e.to_string())?;
                    if e.name == "fh_region" && e.kind == ExternalKind::Func {
                        s.exports_region = true;
                    }
                }
            }
            Payload::CodeSectionEntry(f) => {
                let mut ops = f.get_operators_reader().map_err(|e| e.to_string())?;
                while !ops.eof() {
                    let what = match ops.read().map_err(|e| e.to_string())? {
                        Operator::MemoryCopy { .. } => "memory.copy",
                        Operator::MemoryFill { .. } => "memory.fill",
                        Operator::MemoryInit { .. } => "memory.init",
                        Operator::MemoryAtomicWait32 { .. } => "memory.atomic.wait32",
                        Operator::MemoryAtomicWait64 { .. } => "memory.atomic.wait64",
                        _ => continue,
                    };
                    if s.forbidden.is_none() {
                        s.forbidden = Some((imported_funcs + body, what));
                    }
                }
                body += 1;
            }
            _ => {}
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mode_and_the_forbidden_instructions() {
        let a = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                 (func (export "fh_region") (result i32) (i32.const 0)))"#,
        )
        .unwrap();
        let s = scan(&a).unwrap();
        assert!(s.exports_region && s.memory_import.is_none() && s.forbidden.is_none());
        let b = wat::parse_str(
            r#"(module (import "fh" "now" (func (result i64)))
                 (import "fh" "memory" (memory 2 2 shared))
                 (func (i32.const 0) (i32.const 0) (i32.const 4) (memory.fill)))"#,
        )
        .unwrap();
        let s = scan(&b).unwrap();
        assert_eq!(s.memory_import.as_deref(), Some("fh.memory"));
        assert_eq!(s.forbidden, Some((1, "memory.fill")));
        let c = wat::parse_str(
            r#"(module (import "env" "memory" (memory 1 1 shared))
                 (func (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))))"#,
        )
        .unwrap();
        assert_eq!(
            scan(&c).unwrap().forbidden,
            Some((0, "memory.atomic.wait32"))
        );
        assert!(scan(b"\0asm\x01\0\0\0\x0a").is_err());
    }
}
