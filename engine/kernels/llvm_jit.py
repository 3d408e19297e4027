"""Generated machine kernels: LLVM IR built with llvmlite, compiled at -O3 for this CPU,
called through ctypes (which releases the GIL), machine code cached on disk.

:class:`Frame` is the common frame of a kernel: one function
``void f(float*, float*, float*, i64*, i64 x 6)`` (the pointers ``noalias``) and the few
operations the kernels are made of (counted loops, vector loads and stores, broadcasts,
fused multiply-adds into register accumulators). :func:`compiled` builds a kernel once per
process, or loads its machine code from the engine's keyed cache directory
(:mod:`engine.jit_cache`), each file carrying a digest (LLVM crashes on a damaged object
file; a bad one is rebuilt). :func:`host_shape` says how wide the vectors are and how many
registers hold them. Used by :mod:`engine.kernels.direct_conv` and
:mod:`engine.kernels.direct_conv_rows`.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading

__all__ = ["Frame", "compiled", "host_shape"]

_ARGS = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 6
_PROTO = ctypes.CFUNCTYPE(None, *_ARGS)
_lock = threading.Lock()
_kernels: dict[tuple, object] = {}
_engines: list = []  # the execution engines own the machine code: keep them alive
_host: dict | None = None


def host_shape() -> dict:
    """Vector lanes (float32) and vector register count of this CPU, from LLVM's view."""
    global _host
    if _host is None:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        features = llvm.get_host_cpu_features()
        triple = llvm.get_process_triple()
        if features.get("avx512f"):
            lanes, regs = 16, 32
        elif features.get("avx") or features.get("avx2"):
            lanes, regs = 8, 16
        else:  # SSE, NEON and the rest: 128-bit vectors
            lanes, regs = 4, 32 if triple.startswith(("aarch64", "arm64")) else 16
        _host = {"lanes": lanes, "regs": regs, "features": features.flatten()}
    return _host


def _machine():
    import llvmlite.binding as llvm

    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=host_shape()["features"], opt=3
    )


_MAGIC = b"CNNWBDC1"


def _object_path(kind: str, params: tuple) -> str | None:
    """Where the machine code of kernel ``kind`` with ``params`` is kept between processes:
    in the engine's keyed numba cache directory (:mod:`engine.jit_cache`, named after the
    kernels' source, these files included), under a name that also carries the CPU, its
    features and llvmlite's version; None when no cache directory is set."""
    import llvmlite
    import llvmlite.binding as llvm

    root = os.environ.get("NUMBA_CACHE_DIR")
    if not root:
        return None
    host = f"{llvm.get_host_cpu_name()}|{host_shape()['features']}|{llvmlite.__version__}"
    tag = hashlib.sha256(host.encode()).hexdigest()[:12]
    name = f"direct_conv-{kind}-{'-'.join(str(p) for p in params)}-{tag}.o"
    return os.path.join(root, "direct_conv", name)


def _load(data: bytes, name: str):
    """The ctypes function ``name`` of object code ``data``."""
    import llvmlite.binding as llvm

    empty = llvm.parse_assembly(f'target triple = "{llvm.get_process_triple()}"')
    engine = llvm.create_mcjit_compiler(empty, _machine())
    engine.add_object_file(llvm.ObjectFileRef.from_data(data))
    engine.finalize_object()
    address = engine.get_function_address(name)
    if not address:
        raise RuntimeError(f"{name} missing from the cached object")
    _engines.append(engine)
    return _PROTO(address)


def compiled(kind: str, params: tuple, build):
    """The ctypes function of kernel ``kind`` with ``params``, built once per process
    (thread-safe): its machine code from the on-disk cache, or ``build(*params)`` (an
    llvmlite module and its function's name; -O3 for this CPU, ~40 ms), then cached
    (written atomically)."""
    key = (kind, *params)
    fn = _kernels.get(key)
    if fn is None:
        with _lock:
            fn = _kernels.get(key)
            if fn is None:
                fn = _kernels[key] = _compile(kind, params, build)
    return fn


def _compile(kind, params, build):
    import llvmlite.binding as llvm

    path = _object_path(kind, params)
    name = f"dc_{kind}"
    if path is not None and os.path.exists(path):
        try:
            with open(path, "rb") as f:
                blob = f.read()
            # LLVM crashes on a damaged object file, so each carries its digest: a truncated
            # or corrupted file is rebuilt, never loaded.
            head, digest, data = blob[:8], blob[8:40], blob[40:]
            if head == _MAGIC and hashlib.sha256(data).digest() == digest:
                return _load(data, name)
        except (OSError, RuntimeError):
            pass  # unreadable or stale: build it again below
    mod, fname = build(*params)
    mod.get_global(fname).name = name
    module = llvm.parse_assembly(str(mod))
    module.verify()
    machine = _machine()
    tuning = llvm.create_pipeline_tuning_options(speed_level=3)
    passes = llvm.create_pass_builder(machine, tuning)
    passes.getModulePassManager().run(module, passes)
    data = machine.emit_object(module)
    if path is not None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(tmp, "wb") as f:
                f.write(_MAGIC + hashlib.sha256(data).digest() + data)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache: compile again next time
    return _load(data, name)


def _looper(b, const):
    """A counted-loop helper for builder ``b`` (allocas that LLVM's mem2reg turns into
    registers): loop(start, stop, body, name) calls body(index) inside the loop."""

    def loop(start, stop, body, name):
        iv = b.alloca(start.type, name=name)
        b.store(start, iv)
        head = b.append_basic_block(name + "_head")
        inner = b.append_basic_block(name + "_body")
        done = b.append_basic_block(name + "_done")
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(b.icmp_signed("<", b.load(iv), stop), inner, done)
        b.position_at_end(inner)
        body(b.load(iv))
        b.store(b.add(b.load(iv), const(1)), iv)
        b.branch(head)
        b.position_at_end(done)

    return loop


class Frame:
    """The frame of one generated kernel ``name`` on vectors of ``vl`` float32 lanes:
    ``mod`` (the llvmlite module), ``args`` (the function's 10 arguments: 3 float pointers,
    an int64 pointer, 6 int64 values), ``b`` (the IR builder, in the entry block)."""

    def __init__(self, name: str, vl: int):
        import llvmlite.binding as llvm
        import llvmlite.ir as ir

        self.ir, self.vl, self.name = ir, vl, name
        self.f32, self.i64 = ir.FloatType(), ir.IntType(64)
        self.vec = ir.VectorType(self.f32, vl)
        self.mod = ir.Module(name=name)
        self.mod.triple = llvm.get_process_triple()
        ptrs = [self.f32.as_pointer()] * 3 + [self.i64.as_pointer()]
        fnty = ir.FunctionType(ir.VoidType(), ptrs + [self.i64] * 6)
        fn = ir.Function(self.mod, fnty, name=name)
        self.args = fn.args
        for arg in self.args[:4]:
            arg.add_attribute("noalias")
        self._fma = ir.Function(self.mod, ir.FunctionType(self.vec, [self.vec] * 3),
                                name=f"llvm.fma.v{vl}f32")  # fmt: skip
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.loop = _looper(self.b, self.const)
        self.zero = ir.Constant(self.vec, [0.0] * vl)
        self._splat = ir.Constant(ir.VectorType(ir.IntType(32), vl), [0] * vl)

    def const(self, value: int):
        return self.ir.Constant(self.i64, value)

    def accumulator(self):
        """A vector register accumulator (an alloca that LLVM promotes to a register)."""
        return self.b.alloca(self.vec)

    def clear(self, accs) -> None:
        """Zero every accumulator of a nested list."""
        for row in accs:
            for acc in row:
                self.b.store(self.zero, acc)

    def load(self, base, index):
        """The scalar base[index]."""
        return self.b.load(self.b.gep(base, [index]))

    def load_vec(self, base, index):
        """The VL values base[index : index + VL] (unaligned)."""
        ptr = self.b.bitcast(self.b.gep(base, [index]), self.vec.as_pointer())
        return self.b.load(ptr, align=4)

    def store_vec(self, value, base, index) -> None:
        ptr = self.b.bitcast(self.b.gep(base, [index]), self.vec.as_pointer())
        self.b.store(value, ptr, align=4)

    def splat(self, scalar):
        """A vector of VL copies of ``scalar``."""
        undef = self.ir.Constant(self.vec, self.ir.Undefined)
        one = self.b.insert_element(undef, scalar, self.ir.Constant(self.ir.IntType(32), 0))
        return self.b.shuffle_vector(one, undef, self._splat)

    def fma_into(self, acc, a, x) -> None:
        """acc += a * x (vectors)."""
        self.b.store(self.b.call(self._fma, [a, x, self.b.load(acc)]), acc)

    def done(self):
        """Close the function: (module, function name) for :func:`compiled`."""
        self.b.ret_void()
        return self.mod, self.name
