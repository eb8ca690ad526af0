"""The reference study, as constants: what it reported and how it split and prepared the data.

"Custom CNN vs MobileNet vs ResNet101" on BUSI (780 breast-ultrasound images), one seed, one split.
"""

from __future__ import annotations

# test-set results the study reported (117 images, one seed)
STUDY_REFERENCE: dict[str, dict[str, float]] = {
    "simple_cnn": {"accuracy": 0.68, "f1_weighted": 0.68, "f1_macro": 0.61},
    "study_mobilenet": {"accuracy": 0.66, "f1_weighted": 0.62, "f1_macro": 0.53},
    "resnet101": {"accuracy": 0.87, "f1_weighted": 0.87, "f1_macro": 0.85},
}
STUDY_CONFUSION: dict[str, list[list[int]]] = {
    "simple_cnn": [[54, 9, 3], [9, 18, 4], [10, 2, 8]],
    "study_mobilenet": [[60, 6, 0], [18, 13, 0], [13, 3, 4]],
    "resnet101": [[59, 4, 3], [3, 27, 1], [4, 0, 16]],
}
STUDY_SPLIT_FILE = "busi_paper_split.csv"  # shipped in configs/splits/
STUDY_MANIFEST_SUFFIXES = ("paper_split.csv",)  # names under which the study's split is recognised

# the study's recipe: Resize(256) + CenterCrop(224), RandomApply([flip, rotation 10, jitter 0.2/0.2], p=0.5)
STUDY_IMAGE_SIZE = 224
STUDY_RESIZE_SHORTER = 256
STUDY_BLOCK_P = 0.5
STUDY_ROTATION_DEGREES = 10.0
STUDY_BRIGHTNESS = 0.2
STUDY_CONTRAST = 0.2
STUDY_BATCH_SIZE = 8
STUDY_LR = 1e-3

# the study's recipe as the dotted config keys of a run's resolved config (what a deviation is measured
# against); the learning rate and weights are per model
STUDY_PROTOCOL: dict[str, object] = {
    "data.preprocess": "shorter_crop",
    "data.resize_shorter": STUDY_RESIZE_SHORTER,
    "data.image_size": STUDY_IMAGE_SIZE,
    "data.normalize": "imagenet",
    "augment.mode": "study",
    "train.epochs": 20,
    "train.batch_size": STUDY_BATCH_SIZE,
    "train.optimizer": "adam",
    "train.scheduler": "step",
    "train.step_size": 7,
    "train.gamma": 0.1,
    "train.early_stopping_patience": 2,
    "train.min_epochs": 5,
    "train.select_by": "val_loss",
}
STUDY_MODEL_LR = {"simple_cnn": 1e-3, "study_mobilenet": 1e-3, "resnet101": 5e-5}
STUDY_MODEL_WEIGHTS = {"resnet101": "IMAGENET1K_V1"}
