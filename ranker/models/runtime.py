"""Which runtime runs a model's forward pass: OpenVINO on a CPU, PyTorch on a GPU.

Training always runs on PyTorch. Inference (reranking, encoding, the heads'
predictions) runs by default on OpenVINO when the work is on a CPU: on this
project's 2-core AMD EPYC (AVX512-BF16) OpenVINO in bf16 scored reranking pairs
2.2x as fast as ``CrossEncoder.predict`` and encoded articles 2.3x as fast as
``SentenceTransformer.encode``, with the same ranking quality, and a process that
only queries never imports torch or transformers (benchmarks/RESULTS.md).
On a GPU, PyTorch stays the runtime.

Nothing here imports torch: deciding the runtime must not cost the import it saves.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

#: ``auto``: OpenVINO when the work runs on a CPU, PyTorch when it runs on a GPU.
RUNTIMES = ("auto", "openvino", "torch")


def validate_runtime(runtime: str) -> None:
    """Raise a ValueError unless ``runtime`` is one of :data:`RUNTIMES`.

    Example:
        >>> validate_runtime("onnx")
        Traceback (most recent call last):
        ...
        ValueError: runtime must be one of auto, openvino, torch, not 'onnx'
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not '{runtime}'")


def gpu_present() -> bool:
    """Whether an NVIDIA driver is loaded, read without importing torch (which costs
    seconds). torch decides the device itself later; this only picks the runtime.

    Example:
        >>> gpu_present() in (True, False)
        True
    """
    return Path("/proc/driver/nvidia/version").exists()


def resolve_runtime(runtime: str, device: str = "auto", precision: str = "auto") -> str:
    """``runtime`` with ``auto`` decided: ``torch`` for work on a GPU (a ``cuda``
    device, or ``auto`` on a machine with one) or in ``int8`` (torch's dynamic
    quantisation), else ``openvino``. OpenVINO runs on the CPU only, so asking for it
    with a GPU device, or in int8, is an error.

    Example:
        >>> resolve_runtime("auto", "cpu"), resolve_runtime("torch", "cpu"), resolve_runtime("auto", "cpu", "int8")
        ('openvino', 'torch', 'torch')
    """
    validate_runtime(runtime)
    if runtime == "openvino" and device.startswith("cuda"):
        raise ValueError("the openvino runtime runs on the CPU only: use --runtime torch with a GPU device")
    if runtime == "openvino" and precision == "int8":
        raise ValueError("int8 runs on the torch runtime only: pass --runtime torch, or use auto, fp32 or bf16")
    if runtime == "auto":
        on_gpu = device.startswith("cuda") or (device == "auto" and gpu_present())
        return "torch" if on_gpu or precision == "int8" else "openvino"
    return runtime


#: Threads one OpenVINO model may use (None: OpenVINO's choice, every core); set by
#: :func:`limit_threads` in a process that shares the machine, such as a Ray actor.
_THREADS: list[int | None] = [None]


def limit_threads(threads: int | None) -> None:
    """Let each OpenVINO model compiled from now on in this process use at most
    ``threads`` threads (None: every core), as ``torch.set_num_threads`` does for torch.

    Example:
        >>> limit_threads(None); thread_limit() is None
        True
    """
    _THREADS[0] = threads


def thread_limit() -> int | None:
    """The limit :func:`limit_threads` set, or None."""
    return _THREADS[0]


def import_openvino():
    """``openvino``, imported without its telemetry.

    ``import openvino`` reports itself to Google Analytics and writes ``~/intel``
    unless the user opted out with OpenVINO's own tool; a search engine must not
    phone home. Its modules fall back to a no-op stand-in when ``openvino_telemetry``
    cannot be imported, so it is made unimportable while openvino loads.

    Example:
        >>> import_openvino().__name__
        'openvino'
    """
    if "openvino" not in sys.modules:
        blocked = "openvino_telemetry" not in sys.modules
        if blocked:
            sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            import openvino  # noqa: F401
        finally:
            if blocked:
                del sys.modules["openvino_telemetry"]
    return sys.modules["openvino"]


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), as OpenVINO
    reports it; read once per process.

    Example:
        >>> cpu_has_bf16() in (True, False)
        True
    """
    capabilities = import_openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "BF16" in capabilities


def openvino_precision(precision: str) -> str:
    """OpenVINO's ``INFERENCE_PRECISION_HINT`` for one of our precisions.

    It is always set: left unset, OpenVINO follows the hardware (bf16 on this CPU,
    f32 on one without), so the same command would score differently on two machines
    without saying so. int8 is torch's dynamic quantisation and has no OpenVINO form here.

    Example:
        >>> openvino_precision("fp32")
        'f32'
    """
    if precision == "auto":
        return "bf16" if cpu_has_bf16() else "f32"
    return {"fp32": "f32", "bf16": "bf16"}[precision]

