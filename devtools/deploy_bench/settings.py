"""What the deploy benchmark measures, and the issue's targets it is compared with."""

from __future__ import annotations

from dataclasses import dataclass

from bcbench.deploy import DeploySettings

MODELS = ("simple_cnn", "study_mobilenet", "mobilenet_v2", "resnet18", "resnet50")
FORMS = ("onnx", "onnx_int8", "compile")  # eager fp32 is always measured, as the reference

# targets of the deploy issue (measured against, not asserted)
INT8_SPEEDUP_TARGET = 2.0  # ONNX Runtime INT8 over eager fp32, batch-1 p50, resnet18, equal threads
PARITY_TARGET = 1e-4  # ONNX Runtime fp32: max |logit difference| to eager
AGREEMENT_TARGET = 0.98  # INT8 top-1 agreement with eager
TARGET_MODEL = "resnet18"


@dataclass(frozen=True)
class BenchSettings:
    """Models at random initialisation (no downloads) with ``num_classes`` outputs, timed at each thread
    count: batch-1 latency (``warmup`` + ``iterations`` calls) and throughput at ``batch_size``
    (``throughput_warmup`` + ``throughput_iterations`` calls), ``repeats`` rounds alternating the forms
    (medians over rounds). Parity and INT8 agreement on ``parity_images`` synthetic ultrasound images;
    INT8 calibrated on ``calibration_images`` other ones."""

    models: tuple[str, ...] = MODELS
    forms: tuple[str, ...] = FORMS
    image_size: int = 224
    threads: tuple[int, ...] = (1, 2)
    batch_size: int = 32
    repeats: int = 3
    warmup: int = 3
    iterations: int = 15
    throughput_warmup: int = 1
    throughput_iterations: int = 3
    parity_images: int = 64
    calibration_images: int = 32
    num_classes: int = 3
    exporter: str = "dynamo"
    seed: int = 0
    device: str | None = None  # where the torch forms run (None: the CPU, where the models are built)

    def deploy_settings(self) -> DeploySettings:
        return DeploySettings(
            forms=self.forms,
            threads=self.threads,
            batch_size=self.batch_size,
            warmup=self.warmup,
            iterations=self.iterations,
            throughput_warmup=self.throughput_warmup,
            throughput_iterations=self.throughput_iterations,
            eval_batch_size=self.batch_size,  # torch.compile then never recompiles for a new batch size
            exporter=self.exporter,
            repeats=self.repeats,
            seed=self.seed,
            device=self.device,
        ).checked()
