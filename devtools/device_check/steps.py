"""The steps of the device check, each one command run with its own time limit, at full size on a GPU or
at toy size on the CPU (``--smoke``), so the check cannot rot while no GPU is at hand."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STUDY = "configs/study.yaml"
# toy size: one epoch in few, large batches (ResNet-101 at batch 16 spent 86 s an epoch on a CPU)
TOY = (
    "data.image_size=16",
    "data.resize_shorter=18",
    "train.epochs=1",
    "train.min_epochs=1",
    "train.batch_size=64",
)


@dataclass(frozen=True)
class Step:
    """One command of the check: what it measures, how to run it, how long it may take."""

    name: str
    title: str
    command: list[str]
    timeout: float
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    smoke: bool
    out: Path
    busi: Path | None

    @property
    def python(self) -> str:
        return sys.executable

    @property
    def precision(self) -> str:
        """bf16 on the GPU; fp32 in the CPU smoke (CPUs without bf16 units run it far slower)."""
        return "no" if self.smoke else "bf16"

    def script(self, name: str, *args: str) -> list[str]:
        return [self.python, str(REPO / "bench" / name), *args]

    def limit(self, gpu_seconds: float) -> float:
        return 240.0 if self.smoke else gpu_seconds

    def study_args(self, folder: str, *extra: str) -> list[str]:
        """The study config on BUSI (or the embedded set), at toy size in the smoke."""
        data = [f"data.root={self.busi}"] if self.busi is not None else ["data.root=null"]
        args = [
            "--config",
            STUDY,
            *data,
            f"train.mixed_precision={self.precision}",
            "cost.enabled=false",
        ]
        return [*args, f"output_dir={self.out / folder}", *extra, *(TOY if self.smoke else ())]


def plan_steps(plan: Plan) -> list[Step]:
    """Every step in order; the smoke plan runs the same commands on toy sizes on the CPU."""
    tests = [plan.python, "-m", "pytest", "-q", "-m", "cuda", str(REPO / "tests")]
    return [
        Step("cuda_tests", "CUDA-only tests (pytest -m cuda)", tests, plan.limit(240)),
        _study_step(plan),
        *_cost_steps(plan),
        _speed_step(plan),
        _timer_step(plan),
        _accelerate_step(plan),
        *_queue_steps(plan),
        _deploy_step(plan),
    ]


def _study_step(plan: Plan) -> Step:
    """The study's config: 3 models x 3 seeds (the smoke: 1 seed); ResNet-101 from scratch (no weights
    offline)."""
    seeds = "seeds=[0]" if plan.smoke else "seeds=[0,1,2]"  # the smoke checks the path, not the spread
    args = plan.study_args("study", seeds, "model_options.resnet101.weights=null")
    return Step("study", "study config, 3 models x 3 seeds", plan.script("run.py", *args), plan.limit(300))


def _cost_steps(plan: Plan) -> list[Step]:
    """Five models eager; ResNet-101 compiled (the smoke compiles with the eager backend: inductor's C++
    build alone takes minutes on a CPU)."""
    eager_models = ["resnet101", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "simple_cnn"]
    models, compiled = (
        (["simple_cnn", "mobilenet_v2"], ["simple_cnn"]) if plan.smoke else (eager_models, ["resnet101"])
    )
    size, batches = ("32", ["1", "2"]) if plan.smoke else ("224", ["1", "32", "256"])
    common = [
        "--image-size",
        size,
        "--batch-sizes",
        *batches,
        "--precision",
        plan.precision,
        "--channels-last",
    ]
    common += [
        "--iterations",
        "3" if plan.smoke else "30",
        "--train-batch-size",
        "2" if plan.smoke else "128",
    ]
    eager = plan.script("cost.py", "--models", *models, *common, "--out", str(plan.out / "cost"))
    fused = plan.script(
        "cost.py",
        "--models",
        *compiled,
        *common,
        "--compile",
        "--out",
        str(plan.out / "cost_compiled"),
    )
    backend = {"BCBENCH_COMPILE_BACKEND": "eager"} if plan.smoke else {}
    return [
        Step("cost", "cost per model, channels_last (eager)", eager, plan.limit(240)),
        Step(
            "cost_compiled",
            "ResNet-101 with torch.compile, where time allows",
            fused,
            plan.limit(180),
            backend,
        ),
    ]


def _speed_step(plan: Plan) -> Step:
    args = ["--device", "cpu" if plan.smoke else "cuda", "--workers", "0", "--out", str(plan.out / "speed")]
    if plan.busi is not None:
        args += ["--data-root", str(plan.busi), "--manifest", "splits/busi_paper_split.csv"]
    if plan.smoke:
        args += ["--image-size", "32", "--repeats", "2", "--min-seconds", "0.1", "--skip-train"]
    else:
        args += ["--repeats", "5", "--min-seconds", "2"]
    return Step(
        "speed",
        "bcbench's data path and epoch vs the torchvision pipeline",
        plan.script("speed.py", *args),
        plan.limit(240),
    )


def _timer_step(plan: Plan) -> Step:
    if plan.smoke:
        args = ["--device", "cpu", "--model", "resnet18", "--batch-size", "2", "--image-size", "32"]
        args += ["--min-run-time", "0.2", "--repeats", "1"]
    else:
        args = ["--device", "cuda", "--model", "resnet101", "--batch-size", "32", "--image-size", "224"]
        args += ["--precision", "bf16"]
    command = plan.script("timer_check.py", *args, "--out", str(plan.out / "timer"))
    return Step(
        "timer_check", "bcbench's clock against torch.utils.benchmark.Timer", command, plan.limit(120)
    )


def _accelerate_step(plan: Plan) -> Step:
    launch = [
        plan.python,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "launch" / "single_gpu.yaml"),
    ]
    args = ["name=accelerate", f"output_dir={plan.out / 'accelerate'}", "models=[simple_cnn]", "seeds=[0]"]
    args += ["data.image_size=32", "train.epochs=1", "train.min_epochs=1", "cost.enabled=false"]
    command = [*launch, str(REPO / "bench" / "run.py"), *args]
    return Step(
        "accelerate",
        "a tiny sweep through accelerate launch (launch/single_gpu.yaml)",
        command,
        plan.limit(120),
    )


def _queue_steps(plan: Plan) -> list[Step]:
    """The same 6 study runs with 1 and with several workers sharing the device (the run queue)."""
    steps = []
    for count in (1, 2) if plan.smoke else (1, 4):
        runs = ("models=[simple_cnn,study_mobilenet]", "seeds=[0,1,2]", f"queue.workers_per_device={count}")
        command = plan.script("run.py", *plan.study_args(f"queue_{count}", *runs))
        steps.append(
            Step(
                f"queue_{count}",
                f"6 study runs with {count} worker(s) on the device",
                command,
                plan.limit(240),
            )
        )
    return steps


def _deploy_step(plan: Plan) -> Step:
    """The GPU's deployed forms side by side (``bench/deploy.py``): bf16 autocast, channels_last,
    torch.compile and ONNX Runtime's CUDA provider (recorded as failed, with the reason, where
    onnxruntime-gpu is not installed). The smoke runs the forms a CPU has, at toy size, compiling with
    the eager backend."""
    if plan.smoke:
        forms = ["channels_last", "compile", "onnx"]
        args = ["--models", "simple_cnn", "--image-size", "32", "--device", "cpu", "--repeats", "1"]
        args += ["--iterations", "3", "--throughput-iterations", "1", "--batch-size", "4"]
        args += ["--parity-images", "8", "--calibration-images", "4", "--exporter", "torchscript"]
    else:
        forms = ["bf16", "channels_last", "compile", "onnx_cuda"]
        args = ["--models", "resnet50", "mobilenet_v2", "--image-size", "224", "--device", "cuda"]
        args += ["--repeats", "3", "--iterations", "30", "--batch-size", "256"]
    args += ["--forms", *forms, "--threads", "1", "--out", str(plan.out / "deploy")]
    command = plan.script("deploy.py", *args, "--markdown", str(plan.out / "deploy" / "table.md"))
    backend = {"BCBENCH_COMPILE_BACKEND": "eager"} if plan.smoke else {}
    return Step("deploy", "deployed forms: bf16, channels_last, compile, ONNX Runtime CUDA", command,
                plan.limit(300), backend)  # fmt: skip
