"""What a model costs: parameters, FLOPs, size, throughput, latency percentiles, memory and energy.

Conventions (every figure is labelled with its unit):

- FLOPs are FLOPs: 2 per multiply-add, as counted by ``torch.utils.flop_counter.FlopCounterMode``
  (matrix products, convolutions and attention only; element-wise ops such as BatchNorm, ReLU and
  residual adds are not counted). ``macs = flops / 2``, which is what torchvision's model metadata
  calls "GFLOPS" (``_ops``).
- Every ``*_mb`` figure is in MiB (2**20 bytes), for model size and memory alike.
- Times are wall-clock milliseconds after synchronising the device; throughput is images per second.
- Inference throughput is compute-only: a synthetic float input already on the device, no data
  loading. :func:`end_to_end_throughput` times bcbench's own data path plus forward separately.
- Mixed precision ("fp16"/"bf16") means ``torch.autocast``, as in training; the model's weights stay
  as they are. :func:`model_size_mb` reports the size the weights would have at that precision.
- On CPU the timed work runs with ``torch.get_num_threads()`` threads (recorded as ``threads``); on
  a shared machine the figures vary, so compare models measured in the same session.

Nothing here reads ``sys.argv`` or prints; ``bench/cost.py`` is the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from bcbench.cost.block import CostBlock
from bcbench.cost.memory import energy_per_image, peak_memory_mb, reset_peak_memory
from bcbench.cost.static import count_flops, count_parameters, model_size_mb
from bcbench.cost.throughput import measure_latency, measure_throughput, measure_train_throughput
from bcbench.cost.timing import Workload, check_counts, compiled, prepared_for_inference
from bcbench.device import Precision, device_name


def measure_cost(
    model: nn.Module,
    *,
    image_size: int,
    device: str | torch.device,
    precision: Precision = "no",
    batch_sizes: Sequence[int] = (1, 32),
    warmup: int = 3,
    iterations: int = 20,
    flops: bool = True,
    channels_last: bool = False,
    compile: bool = False,
    num_classes: int | None = None,
    train_batch_size: int | None = None,
    energy: bool = True,
    channels: int = 3,
) -> CostBlock:
    """The run record's ``cost`` block; the model is left as it was.

    Inference figures use eval mode on ``device``; ``infer_throughput`` is images/s at the largest
    batch that ran (``infer_batch_size``), ``throughput_by_batch`` maps each batch that ran to
    images/s and ``batch_size_fallbacks`` lists requested batches that were halved on OOM.
    ``compile=True`` times a ``torch.compile`` wrapper; compilation happens during warm-up (at
    least one warm-up call per batch size), so it is never in the timed figures. Training
    throughput is measured only when ``train_batch_size`` is given (on a copy of the model).
    ``peak_memory_mb`` is the largest peak over the phases measured: CUDA allocated tensors, or the
    process RSS on CPU; ``memory`` has the per-phase detail.
    """
    workload = Workload(image_size, device, precision, warmup, iterations, channels_last, channels).checked()
    check_counts(batch_size=min(batch_sizes, default=0), train_batch_size=train_batch_size or 1)
    device = workload.torch_device
    inference = _measure_inference(model, workload, batch_sizes, compile, energy)
    classes = num_classes or inference["num_classes"]
    train, train_memory, train_windowed = _measure_training(
        model, workload, train_batch_size, classes, compile
    )
    memory = _memory_block(
        device, inference["memory"], train_memory, inference["windowed"] and train_windowed
    )
    settings = {"precision": precision, "channels_last": channels_last, "compiled": compile}
    return CostBlock.from_json(
        {
            **_static_block(model, image_size, channels, precision, flops),
            **_inference_block(inference),
            "train_throughput": train["images_per_s"] if train else None,
            "train_batch_size": train["batch_size_run"] if train else None,
            "train_split_ms": train["split_ms"] if train else None,
            "peak_memory_mb": memory["peak_mb"],
            "memory": memory,
            "energy": inference["energy"],
            "device": str(device),
            "device_name": device_name(device),
            "threads": torch.get_num_threads(),
            "image_size": image_size,
            **settings,
        }
    )


def _measure_training(
    model: nn.Module, workload: Workload, batch_size: int | None, num_classes: int, compile: bool
) -> tuple[dict[str, Any] | None, dict[str, float] | None, bool]:
    """(training throughput, its peak memory, whether that peak is for this phase alone); Nones
    without a training batch size."""
    if not batch_size:
        return None, None, True
    windowed = reset_peak_memory(workload.torch_device)
    train = measure_train_throughput(model, workload, batch_size, num_classes, compile)
    return train, peak_memory_mb(workload.torch_device), windowed


def _static_block(
    model: nn.Module, image_size: int, channels: int, precision: Precision, flops: bool
) -> dict[str, Any]:
    total, trainable = count_parameters(model)
    counts = count_flops(model, image_size, channels) if flops else {"flops": None, "macs": None}
    size = model_size_mb(model, precision)
    return {"params": total, "trainable_params": trainable, **counts, "model_mb": size}


def _inference_block(inference: dict[str, Any]) -> dict[str, Any]:
    largest = inference["largest"]
    return {
        "infer_throughput": largest["images_per_s"],
        "infer_batch_size": largest["batch_size_run"],
        "throughput_by_batch": _throughput_by_batch(inference["throughputs"]),
        "batch_size_fallbacks": _batch_size_fallbacks(inference["throughputs"]),
        "latency_ms": {key: inference["latency"][key] for key in LATENCY_KEYS},
    }


LATENCY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max", "iterations")


def _measure_inference(
    model: nn.Module, workload: Workload, batch_sizes: Sequence[int], compile: bool, energy: bool
) -> dict[str, Any]:
    """Latency, throughput per batch size, peak memory and energy, in eval mode on the device."""
    device = workload.torch_device
    with prepared_for_inference(model, device, workload.channels_last):
        runner = compiled(model) if compile else model
        windowed = reset_peak_memory(device)
        latency = measure_latency(runner, workload)
        throughputs = [measure_throughput(runner, workload, batch) for batch in sorted(set(batch_sizes))]
        memory = peak_memory_mb(device)
        largest = max(throughputs, key=lambda result: result["batch_size_run"])
        if energy:
            energy_block = energy_per_image(runner, workload, batch_size=largest["batch_size_run"])
        else:
            energy_block = {"joules_per_image": None, "reason": "not requested"}
        with torch.inference_mode():
            num_classes = int(model(workload.images(1)).shape[-1])  # labels for the training measurement
    return {
        "latency": latency,
        "throughputs": throughputs,
        "largest": largest,
        "memory": memory,
        "windowed": windowed,
        "energy": energy_block,
        "num_classes": num_classes,
    }


def _batch_size_fallbacks(throughputs: list[dict[str, Any]]) -> dict[str, int]:
    """Requested batch sizes that were halved on out-of-memory -> the batch size that ran."""
    return {
        str(t["batch_size"]): t["batch_size_run"]
        for t in throughputs
        if t["batch_size"] != t["batch_size_run"]
    }


def _throughput_by_batch(throughputs: list[dict[str, Any]]) -> dict[str, float]:
    by_batch: dict[str, float] = {}
    for result in throughputs:
        by_batch.setdefault(str(result["batch_size_run"]), result["images_per_s"])
    return by_batch


def _memory_block(
    device: torch.device, inference: dict[str, float], train: dict[str, float] | None, windowed: bool
) -> dict[str, Any]:
    """Per-phase peaks; ``windowed`` says each peak is for its phase (not the process lifetime)."""
    key = "allocated" if device.type == "cuda" else "rss"
    peaks = [inference[key]] + ([train[key]] if train else [])
    return {
        "kind": "cuda_allocated" if key == "allocated" else "process_rss",
        "peak_mb": max(peaks),
        "windowed": windowed,
        "inference": inference,
        "train": train,
    }
