"""What a deploy evaluation does: which forms, how they are timed, how the ONNX files are made.

A frozen dataclass that checks its own values, like the config schema's blocks, so that the config's
``deploy`` block can be mapped onto it one key at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from bcbench.errors import BcbenchError, ConfigError

EAGER = "eager"
ONNX = "onnx"
ONNX_INT8 = "onnx_int8"
ONNX_CUDA = "onnx_cuda"
COMPILE = "compile"
CHANNELS_LAST = "channels_last"
BF16 = "bf16"
FP16 = "fp16"
FORMS: tuple[str, ...] = (EAGER, ONNX, ONNX_INT8, ONNX_CUDA, COMPILE, CHANNELS_LAST, BF16, FP16)
ONNX_FORMS: tuple[str, ...] = (ONNX, ONNX_INT8, ONNX_CUDA)
EXPORTERS: tuple[str, ...] = ("dynamo", "torchscript")
NORMALIZATIONS: tuple[str, ...] = ("imagenet", "none")


class DeployError(BcbenchError):
    """A deploy form that cannot be built here: a missing package, provider or device."""


@dataclass(frozen=True)
class DeploySettings:
    """``forms``: besides ``eager`` (always measured, fp32, the reference): ``onnx`` (ONNX Runtime fp32 on
    the CPU), ``onnx_int8`` (static INT8, QDQ, per-channel weights, CPU), ``onnx_cuda`` (ONNX Runtime
    fp32 on CUDA), ``compile`` (``torch.compile``), ``channels_last`` (eager fp32 with weights and inputs
    in channels-last memory format), ``bf16`` / ``fp16`` (autocast, CUDA only).

    ``threads``: intra-op threads for timing (torch and ONNX Runtime alike), one timing per entry.
    ``batch_size``: the throughput batch; latency is always at batch 1. ``eval_batch_size``: batches
    for predicting the scored images. ``exporter``: ``dynamo`` (``torch.export``-based) or
    ``torchscript`` (the deprecated tracer); ``opset`` None is the exporter's default.
    ``reduce_range`` None: 7-bit INT8 weights on x86 CPUs without VNNI (ONNX Runtime's advice
    against int16 saturation there), 8-bit elsewhere. ``device``: where the torch forms run
    (default: the model's device). ``timing`` False skips the timings (parity and predictions only);
    ``repeats`` rounds of timings alternate the forms (each round times every form at every thread
    count), for medians over rounds on a shared machine.
    """

    forms: tuple[str, ...] = (ONNX, ONNX_INT8)
    threads: tuple[int, ...] = (1,)
    batch_size: int = 32
    warmup: int = 3
    iterations: int = 20
    throughput_warmup: int = 1
    throughput_iterations: int = 5
    eval_batch_size: int = 32
    calibration_batch_size: int = 16
    exporter: str = "dynamo"
    opset: int | None = None
    normalize: str = "imagenet"
    reduce_range: bool | None = None
    device: str | None = None
    timing: bool = True
    repeats: int = 1
    seed: int = 0

    def checked(self) -> DeploySettings:
        """These settings, or ConfigError naming the key and what to use instead."""
        unknown = [form for form in self.forms if form not in FORMS]
        if unknown:
            raise ConfigError(f"deploy.forms has unknown form(s) {unknown}; use some of {', '.join(FORMS)}")
        _one_of("exporter", self.exporter, EXPORTERS)
        _one_of("normalize", self.normalize, NORMALIZATIONS)
        if not self.threads:
            raise ConfigError("deploy.threads must list at least one thread count, e.g. [1]")
        for count in self.threads:
            _at_least("threads", count, 1)
        for key in ("batch_size", "iterations", "throughput_iterations", "eval_batch_size", "repeats"):
            _at_least(key, getattr(self, key), 1)
        _at_least("calibration_batch_size", self.calibration_batch_size, 1)
        for key in ("warmup", "throughput_warmup"):
            _at_least(key, getattr(self, key), 0)
        if self.opset is not None:
            _at_least("opset", self.opset, 13)  # per-channel QuantizeLinear needs opset 13
        return self

    def requested_forms(self) -> tuple[str, ...]:
        """``eager`` first, then the other forms in the order asked, each once."""
        return tuple(dict.fromkeys((EAGER, *self.forms)))


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"deploy.{key} must be one of {', '.join(allowed)}, got {value!r}")


def _at_least(key: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"deploy.{key} must be an integer >= {minimum}, got {value!r}")
