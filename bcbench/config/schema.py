"""The experiment's schema: frozen dataclasses with their defaults, each checking its own values.

``check(where)`` rejects impossible values with a message naming the dotted key; ``config.load``
calls it on every block it builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bcbench.errors import ConfigError

MAX_SEVERITY = 5  # corruption severities run 1..5 (bcbench.robustness)


@dataclass(frozen=True)
class AugmentConfig:
    """Batch augmentation of training images (uint8 tensors, whole batches at once)."""

    # none: no augmentation; batch: each op applied per sample with its own probability,
    # only to samples whose class is in ``classes`` (all when empty); study: the reference
    # study's RandomApply(p) block (flip, rotation, jitter together) on every training image.
    mode: Literal["none", "batch", "study"] = "batch"
    hflip_p: float = 0.5
    rotation_degrees: float = 10.0
    rotation_p: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    jitter_p: float = 0.5
    block_p: float = 0.5  # study mode: probability of applying the whole block
    classes: tuple[str, ...] = ()  # batch mode: class names to augment; empty = every class

    def check(self, where: str) -> None:
        for key in ("hflip_p", "rotation_p", "jitter_p", "block_p"):
            _probability(getattr(self, key), join_key(where, key))
        if self.rotation_degrees < 0 or self.brightness < 0 or self.contrast < 0:
            raise ConfigError(f"augmentation strengths under {where!r} must not be negative")


@dataclass(frozen=True)
class DataConfig:
    """Where images come from, how they are decoded and how they are split."""

    root: str | None = None  # a folder, or a MedMNIST .npz file; None = the embedded synthetic data set
    # auto: chosen from what root points at (an .npz file; train/val/test folders; data.index set;
    # else class folders). folders | split_folders | csv | npz name the layout explicitly
    source: Literal["auto", "folders", "split_folders", "csv", "npz"] = "auto"
    index: str | None = None  # CSV with path,label[,group][,split], paths relative to root
    class_names: tuple[str, ...] = ()  # class order (npz: names of labels 0..k-1; csv: the order of labels)
    external: dict[str, str] = field(
        default_factory=dict
    )  # name -> another data set, predicted after training
    synthetic_dir: str | None = None  # where the embedded data set is written (default: cache)
    mask_patterns: tuple[str, ...] = ("_mask",)
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
    preprocess: Literal["square", "shorter_crop"] = "square"
    image_size: int = 64  # final side length fed to the model
    resize_shorter: int = 256  # shorter_crop: resize shorter side to this, then centre-crop
    # imagenet: ImageNet's mean/std; none: pixels / 255; given: normalize_mean / normalize_std (one value for
    # every channel, or one per channel), on pixels / 255 as torchvision's Normalize after ToTensor
    normalize: Literal["imagenet", "none", "given"] = "imagenet"
    normalize_mean: tuple[float, ...] = ()
    normalize_std: tuple[float, ...] = ()
    cache_dir: str | None = None  # on-disk cache of decoded tensors; None = memory only
    # memory: decode every image once and keep the uint8 split resident (on the GPU when there is one);
    # stream: decode each batch from its files when it is needed, for data that does not fit in memory
    storage: Literal["memory", "stream"] = "memory"
    split_seed: int = 0
    test_fraction: float = 0.15
    val_fraction: float = 0.15  # fraction of what remains after the test split
    manifest: str | None = None  # CSV with columns path,split (train|val|test)
    on_bad_image: Literal["error", "skip"] = "error"  # skip: list unreadable files in the record
    dedupe: bool = False  # drop byte-identical images (keep the first) before splitting
    max_image_pixels: int = 178_956_970  # decompression-bomb guard (Pillow's default limit)

    def check(self, where: str) -> None:
        _positive(self.image_size, join_key(where, "image_size"))
        _positive(self.resize_shorter, join_key(where, "resize_shorter"))
        for key in ("test_fraction", "val_fraction"):
            value = getattr(self, key)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"config key {join_key(where, key)!r} must be in [0, 1), got {value!r}")
        if len(set(self.class_names)) != len(self.class_names):
            raise ConfigError(
                f"config key {join_key(where, 'class_names')!r} lists a class twice: {self.class_names}"
            )
        self._check_normalize(where)
        if self.preprocess == "shorter_crop" and self.image_size > self.resize_shorter:
            raise ConfigError(
                f"config key {join_key(where, 'image_size')!r} ({self.image_size}) must not exceed "
                f"{join_key(where, 'resize_shorter')!r} ({self.resize_shorter}) with preprocess shorter_crop"
            )

    def _check_normalize(self, where: str) -> None:
        given = self.normalize == "given"
        for key in ("normalize_mean", "normalize_std"):
            values = getattr(self, key)
            if given and len(values) not in (1, 3):
                raise ConfigError(
                    f"config key {join_key(where, key)!r} needs 1 or 3 values with normalize: given, "
                    f"got {list(values)}"
                )
            if not given and values:
                raise ConfigError(f"config key {join_key(where, key)!r} is only read with normalize: given")
        if any(value <= 0 for value in self.normalize_std):
            raise ConfigError(f"config key {join_key(where, 'normalize_std')!r} must be positive")


@dataclass(frozen=True)
class TrainConfig:
    """One training run's recipe (the study's defaults)."""

    epochs: int = 20
    batch_size: int = 8
    eval_batch_size: int = 64
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    fused_optimizer: bool = True  # adam/adamw: torch's fused kernel where it has one (CUDA; CPU since 2.4)
    scheduler: Literal["step", "multistep", "cosine", "none"] = "step"
    step_size: int = 7
    milestones: tuple[int, ...] = ()  # multistep: epochs after which the rate is multiplied by gamma
    gamma: float = 0.1
    label_smoothing: float = 0.0
    class_weights: Literal["none", "balanced"] = "none"
    # the validation quantity that picks the best epoch (restored before testing) and drives early stopping
    select_by: Literal["val_loss", "val_auroc", "val_accuracy", "val_f1_macro"] = "val_loss"
    early_stopping_patience: int = 2  # epochs without improvement of select_by; 0 disables
    min_epochs: int = 5
    # None: what `accelerate launch --mixed_precision` / `accelerate config` chose, else "no"
    mixed_precision: Literal["no", "fp16", "bf16"] | None = None
    deterministic: bool = False
    channels_last: bool = False
    compile: bool = False  # torch.compile the model (first epoch includes compilation)
    save_checkpoint: bool = False  # keep the best weights as <sweep>/checkpoints/<run_id>.pt

    def check(self, where: str) -> None:
        for key in ("epochs", "batch_size", "eval_batch_size", "lr", "step_size"):
            _positive(getattr(self, key), join_key(where, key))
        if self.weight_decay < 0 or self.early_stopping_patience < 0 or self.min_epochs < 0:
            raise ConfigError(f"config keys under {where!r} must not be negative")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"config key {join_key(where, 'label_smoothing')!r} must be in [0, 1)")
        if self.scheduler == "multistep" and (
            not self.milestones
            or list(self.milestones) != sorted(set(self.milestones))
            or self.milestones[0] < 1
        ):
            raise ConfigError(
                f"config key {join_key(where, 'milestones')!r} must list increasing epochs (e.g. [50, 75]) "
                f"with scheduler multistep, got {list(self.milestones)}"
            )


@dataclass(frozen=True)
class ModelOptions:
    """Per-model settings that override ``train`` (e.g. the study's per-model learning rate)."""

    weights: str | None = None  # torchvision weights name (IMAGENET1K_V1, DEFAULT) or a path
    lr: float | None = None
    batch_size: int | None = None
    small_input_stem: bool = False  # torchvision ResNets: 3x3 stride-1 first conv, no max-pool (28 px inputs)

    def check(self, where: str) -> None:
        _positive(self.lr, join_key(where, "lr"))
        _positive(self.batch_size, join_key(where, "batch_size"))


@dataclass(frozen=True)
class CostConfig:
    """What a trained model costs, measured after each run and kept in its record's ``cost`` block (the key
    was called ``efficiency`` before bcbench 0.3; that name is still read, with a note)."""

    enabled: bool = True
    batch_sizes: tuple[int, ...] = (1, 32)
    warmup: int = 3
    iterations: int = 20
    flops: bool = True

    def check(self, where: str) -> None:
        for size in self.batch_sizes:
            _positive(size, join_key(where, "batch_sizes"))
        _positive(self.iterations, join_key(where, "iterations"))


@dataclass(frozen=True)
class EvaluationConfig:
    """How runs are evaluated: one split (holdout) or cross-validation folds as run axes."""

    # holdout: one train/val/test split (data.manifest, the source's own split, or data.*_fraction);
    # kfold: every image is tested once per repeat, in `folds` stratified (grouped) folds
    protocol: Literal["holdout", "kfold"] = "holdout"
    folds: int = 5
    repeats: int = 1  # kfold: independent fold assignments (split seeds split_seed, split_seed + 1, ...)
    # auto: group-aware splits when the data has groups (patients, lesions); required: error without them;
    # ignore: plain stratified splits even when groups exist
    groups: Literal["auto", "required", "ignore"] = "auto"
    # the class that matters clinically (e.g. malignant): operating points, ROC/PR curves, DeLong;
    # None: a class named like malignant, else for two classes the second, else no clinical view
    positive_class: str | None = None
    # the threshold on the positive class's probability, chosen on the validation predictions:
    # youden (max sensitivity + specificity - 1), or the one reaching threshold_target sensitivity/specificity
    threshold: Literal["youden", "sensitivity", "specificity"] = "youden"
    threshold_target: float = 0.9

    def check(self, where: str) -> None:
        _probability(self.threshold_target, join_key(where, "threshold_target"))
        if self.folds < 2:
            raise ConfigError(f"config key {join_key(where, 'folds')!r} must be at least 2, got {self.folds}")
        _positive(self.repeats, join_key(where, "repeats"))


@dataclass(frozen=True)
class QueueConfig:
    """How workers share a sweep through claim files in its folder (see bcbench.sweep.queue)."""

    lease_seconds: float = 300.0  # a claim whose heartbeat is older than this is stale and can be taken over
    heartbeat_seconds: float = 30.0  # how often a worker refreshes the claims it holds
    poll_seconds: float = 5.0  # how often an idle worker looks again while others still hold claims
    workers_per_device: int = 1  # worker processes per visible GPU (on CPU: processes sharing the cores)

    def check(self, where: str) -> None:
        for key in ("lease_seconds", "heartbeat_seconds", "poll_seconds", "workers_per_device"):
            _positive(getattr(self, key), join_key(where, key))
        if self.heartbeat_seconds >= self.lease_seconds:
            heartbeat, lease = join_key(where, "heartbeat_seconds"), join_key(where, "lease_seconds")
            raise ConfigError(
                f"config key {heartbeat!r} ({self.heartbeat_seconds}) must be shorter than {lease!r} "
                f"({self.lease_seconds}): live claims would look stale"
            )


EXPLAIN_METHODS = ("gradcam", "hirescam")  # the methods of bcbench.explain.cam


@dataclass(frozen=True)
class ExplainConfig:
    """Where each model looks: class activation maps of the test images scored against lesion masks after
    training (``bcbench.explain``); off by default. The sweep turns it into each run's
    ``bcbench.explain.ExplainSettings`` (``layers`` gives the model's ``layer``)."""

    enabled: bool = False
    methods: tuple[Literal["gradcam", "hirescam"], ...] = EXPLAIN_METHODS
    target: Literal["true_class", "predicted_class"] = "true_class"  # the class each map explains
    tolerance_px: float = 15.0  # pointing-game tolerance at 224 px, scaled with data.image_size
    top_percent: tuple[float, ...] = (5.0, 10.0, 20.0)  # top-k% IoU with the mask, one score per k
    layers: dict[str, str] = field(default_factory=dict)  # model -> dotted module name of its CAM layer
    randomised: bool = True  # also score a copy with re-initialised weights (the sanity check)
    batch_size: int = 16
    maps_size: int = 56  # side of the stored maps behind repeatability and reproducibility
    figure_count: int = 4  # test images in the report's figure
    figure_class: str = "malignant"  # the figure shows the first test images of this class with a lesion

    def check(self, where: str) -> None:
        if not self.methods:
            raise ConfigError(f"config key {join_key(where, 'methods')!r} must name at least one method")
        if self.tolerance_px < 0:
            raise ConfigError(f"config key {join_key(where, 'tolerance_px')!r} must not be negative")
        if not self.top_percent or not all(0 < k <= 100 for k in self.top_percent):
            raise ConfigError(
                f"config key {join_key(where, 'top_percent')!r} must list percentages in (0, 100], "
                f"got {list(self.top_percent)}"
            )
        for key in ("batch_size", "maps_size", "figure_count"):
            _positive(getattr(self, key), join_key(where, key))


@dataclass(frozen=True)
class RobustnessConfig:
    """Corruption curves: after training, each run predicts its test set under every corruption x severity
    (``bcbench.robustness``); off while ``corruptions`` is empty."""

    corruptions: tuple[str, ...] = ()  # presets (ultrasound, medmnist-c-breast) or corruptions; () = off
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)  # 1 (mild) .. 5; the clean test set is severity 0
    # scan: blur lengths are MedMNIST-C's at a 224-px scan, scaled to data.image_size (the scan's blur,
    # downsampled); pixels: the same numbers as pixels of the model's input (stronger below 224 px)
    lengths: Literal["scan", "pixels"] = "scan"
    reference_model: str | None = None  # corruption error is relative to this model; None = the first model

    def check(self, where: str) -> None:
        key = join_key(where, "severities")
        if not self.severities or len(set(self.severities)) != len(self.severities):
            raise ConfigError(f"config key {key!r} must list distinct severities 1..5, got {self.severities}")
        for severity in self.severities:  # the range of bcbench.robustness.SEVERITIES (a layer above)
            if isinstance(severity, bool) or not 1 <= severity <= MAX_SEVERITY:
                raise ConfigError(f"config key {key!r} takes severities 1..{MAX_SEVERITY}, got {severity!r}")
        for name in self.corruptions:
            if not name.strip():
                raise ConfigError(f"config key {join_key(where, 'corruptions')!r} holds an empty name")


# the deployed forms besides eager (bcbench.deploy.FORMS, a layer above; a test keeps the two in step)
DEPLOY_FORMS = ("eager", "onnx", "onnx_int8", "onnx_cuda", "compile", "channels_last", "bf16", "fp16")


@dataclass(frozen=True)
class DeployConfig:
    """Deployed forms: after training, each run's best weights in every form of ``forms`` (eager fp32
    always too), checked for parity with eager, re-scored on the test and external sets and timed
    (``bcbench.deploy``); off while ``forms`` is empty."""

    forms: tuple[str, ...] = ()  # onnx, onnx_int8, onnx_cuda, compile, channels_last, bf16, fp16; () = off
    calibration_images: int = 128  # INT8 calibration: a seeded choice of training images, never val or test
    threads: tuple[int, ...] = (1,)  # intra-op threads for timing, one timing per entry (recorded)
    batch_size: int = 32  # throughput batch; latency is always batch 1
    iterations: int = 20  # timed batch-1 calls per round
    repeats: int = 1  # rounds of timings alternating the forms (medians over rounds)
    exporter: Literal["dynamo", "torchscript"] = "dynamo"
    keep_files: bool = False  # keep the ONNX files in <sweep>/deploy/<run_id>/ (else a temporary folder)

    def check(self, where: str) -> None:
        unknown = [form for form in self.forms if form not in DEPLOY_FORMS]
        if unknown:
            raise ConfigError(
                f"config key {join_key(where, 'forms')!r} has unknown form(s) {unknown}; "
                f"use some of {', '.join(DEPLOY_FORMS[1:])}"
            )
        if not self.threads:
            raise ConfigError(f"config key {join_key(where, 'threads')!r} must list a thread count, e.g. [1]")
        for count in self.threads:
            _positive(count, join_key(where, "threads"))
        for key in ("calibration_images", "batch_size", "iterations", "repeats"):
            _positive(getattr(self, key), join_key(where, key))


@dataclass(frozen=True)
class Config:
    """A whole experiment: models x seeds on one data set."""

    name: str = "default"
    output_dir: str = "results"
    # grid: each process runs its own share of the runs; ddp: all processes train each run
    # together; auto: grid unless there are fewer runs than processes
    strategy: Literal["auto", "grid", "ddp"] = "auto"
    tracking: Literal["none", "tensorboard"] = "none"  # Accelerate experiment trackers
    # intra-op CPU threads of each worker; None: OMP_NUM_THREADS when set, else the free cores (the CPUs
    # this process may use minus the load average, at least 1); recorded in every record's env
    threads: int | None = None
    models: tuple[str, ...] = ("simple_cnn", "study_mobilenet", "resnet18")
    seeds: tuple[int, ...] = (0, 1, 2)
    model_options: dict[str, ModelOptions] = field(default_factory=dict)
    # extra swept axes: dotted config key -> values, e.g. {"train.lr": [1e-3, 1e-4]}
    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    robustness: RobustnessConfig = field(default_factory=RobustnessConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)

    def options_for(self, model: str) -> ModelOptions:
        return self.model_options.get(model, ModelOptions())

    def check(self, where: str) -> None:
        if not self.models:
            raise ConfigError("config key 'models' must name at least one model")
        if not self.seeds:
            raise ConfigError("config key 'seeds' must list at least one seed")
        _positive(self.threads, "threads")


def _positive(value: float | int | None, where: str) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"config key {where!r} must be positive, got {value!r}")


def _probability(value: float, where: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"config key {where!r} must be a probability in [0, 1], got {value!r}")


def join_key(where: str, key: str) -> str:
    """``where.key``, or ``key`` at the top level."""
    return f"{where}.{key}" if where else key
