"""One small typed configuration tree, stored in every model file.

A :class:`Config` holds a :class:`ModelConfig` (the network), a
:class:`DataConfig` (axes, patches, normalisation) and a
:class:`TrainingConfig` (task, mode, optimiser, stopping). A model is rebuilt
from its stored config alone, so every field is plain JSON.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import re
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .. import __version__
from .data.axes import check_axes
from .data.noise import has_saltpepper, parse_noise
from .data.correlation import LAGS
from .data.resolution import FACTORS, parse_downscale

#: Version of the config layout; bumped when a field changes meaning.
CONFIG_VERSION = 1

#: Largest value of each size of :class:`ModelConfig`. A model file's header
#: is read before its weights, so without bounds a small file could ask for a
#: network of many gigabytes; these leave room for any network this package
#: trains in practice (the defaults are 32 wide, 2 deep, 4 blocks).
MODEL_LIMITS = {
    "in_channels": 256,
    "out_channels": 256,
    "width": 1024,
    "latent_dim": 4096,
    "input_size": 4096,
    "blocks": 256,
    "hidden_dim": 16384,
}
#: Largest stride of ``model.noise_strides``: one more than the lags measured.
MOST_NOISE_STRIDE = LAGS + 1
#: Largest seed: scikit-learn's seeds (the latent density, the neighbours' PCA) are 32-bit,
#: and the training uses up to ``seed + 3``.
MAX_SEED = 2**32 - 4
#: Largest seed of a stored config: versions before :data:`MAX_SEED` trained with seeds up to
#: this (torch seeds are 64-bit), and their model files must still load.
MAX_STORED_SEED = 2**63 - 2


class Task(str, Enum):
    """What the network learns to produce."""

    DENOISE = "denoise"
    RECONSTRUCT = "reconstruct"
    SUPERRES = "superres"
    VAE = "vae"  # variational autoencoder: reconstruct, sample, explore the latent
    AAE = "aae"  # adversarial autoencoder: a discriminator pushes the codes toward a prior


class Mode(str, Enum):
    """Where the training targets come from (denoising and super-resolution)."""

    SYNTHETIC = "synthetic"  # clean images, noise added on the fly
    PAIRED = "paired"  # noisy input and clean target, or low- and high-resolution
    SELF_SUPERVISED = "self-supervised"  # noisy image alone, blind-spot masking
    FROM_HIGHRES = "from-highres"  # high-resolution images, downscaled on the fly
    ZERO_SHOT = "zero-shot"  # low-resolution image alone, downscaled once more


#: The modes each task accepts, the first being its default; tasks absent have no mode.
TASK_MODES = {
    Task.DENOISE.value: (Mode.SELF_SUPERVISED.value, Mode.SYNTHETIC.value, Mode.PAIRED.value),
    Task.SUPERRES.value: (Mode.FROM_HIGHRES.value, Mode.PAIRED.value, Mode.ZERO_SHOT.value),
}


class Architecture(str, Enum):
    """Network family."""

    UNET = "unet"  # restoration network with skip connections
    AUTOENCODER = "autoencoder"  # conv encoder, dense bottleneck, conv decoder
    SUPERRES = "superres"  # residual blocks and pixel shuffle over bicubic upsampling
    VAE = "vae"  # the conv autoencoder with a Gaussian latent (task "vae")
    VAE_DENSE = "vae-dense"  # fully connected VAE for tiny images (task "vae")
    AAE = "aae"  # the conv autoencoder with a likelihood decoder (task "aae")


class ReconstructionLoss(str, Enum):
    """Likelihood of the VAE's decoder, i.e. its reconstruction term."""

    BCE = "bce"  # Bernoulli: sigmoid output, binary cross-entropy; data in [0, 1]
    MSE = "mse"  # Gaussian of unit variance: linear output, half the summed squared error


class Padding(str, Enum):
    """How the convolutions of the autoencoders' decoder extend a feature map past its edge."""

    ZEROS = "zeros"  # zeros: the border sees a dark frame, which the decoder learns to offset
    REPLICATE = "replicate"  # the edge value repeated: the border is decoded like the inside


class Prior(str, Enum):
    """The distribution an adversarial autoencoder's codes are pushed toward, and sampled from."""

    GAUSSIAN = "gaussian"  # N(0, I), as a VAE's prior
    MIXTURE = "mixture"  # 10 Gaussians on a circle, for a 2-D latent (Makhzani et al. 2015)


#: Architectures with a flat latent and a fixed input size.
LATENT_ARCHITECTURES = (
    Architecture.AUTOENCODER.value,
    Architecture.VAE.value,
    Architecture.VAE_DENSE.value,
    Architecture.AAE.value,
)
#: Architectures that model a distribution and can generate.
VARIATIONAL_ARCHITECTURES = (Architecture.VAE.value, Architecture.VAE_DENSE.value)
#: Architectures whose decoder samples from a known prior: the VAEs and the adversarial one,
#: whose deterministic encoder has no posterior spread.
GENERATIVE_ARCHITECTURES = (*VARIATIONAL_ARCHITECTURES, Architecture.AAE.value)


#: The network of the shipped denoising prior (:mod:`.prior`): a residual U-Net.
PRIOR_NETWORK = {
    "architecture": "unet", "depth": 3, "width": 32, "residual": True, "spatial_dims": 2,
}  # fmt: skip
#: Zero-shot super-resolution learns from the image's own copy downscaled by the factor, and
#: needs that copy this many pixels on its shorter side: on smaller copies (16 to 32 pixels,
#: e.g. a 64x64 image at x4) what it learned came out 0.1 to 19 dB below bicubic
#: interpolation on real images, on copies of 64 pixels it never did (bench/superres_real.py).
#: A smaller copy is not trained on: with the shipped upscaler the result is the upscaler or
#: bicubic, whichever reconstructs the whole copy better (:class:`.training.Trainer`).
ZERO_SHOT_MIN_SIDE = 64
#: The smallest downscaled copy on which zero-shot chooses between the upscaler and bicubic:
#: on real images (bench/superres_real.py) the copy chose right on all 8 copies of 16 pixels
#: (x4 of 64-pixel images), wrongly on 2 of 8 copies of 12 pixels (-0.62 and -0.24 dB).
ZERO_SHOT_MIN_COPY = 16
#: The network of the shipped super-resolution priors, one per factor (:mod:`.prior`): the
#: default "superres" network, applied one channel at a time.
SUPERRES_PRIOR_NETWORK = {"architecture": "superres", "width": 32, "blocks": 4, "channelwise": True}


@dataclass
class ModelConfig:
    """Network shape.

    Parameters
    ----------
    architecture : {"unet", "autoencoder", "superres", "vae", "vae-dense", "aae"}
        ``"unet"`` for restoration (any input size), ``"autoencoder"`` for a
        flat latent vector (fixed input size ``input_size``), ``"superres"``
        for upscaling by ``factor``, ``"vae"`` and
        ``"vae-dense"`` for the convolutional and the fully connected
        variational autoencoders (task ``"vae"``), ``"aae"`` for the
        adversarial autoencoder (task ``"aae"``).
    in_channels, out_channels : int
        Channels of the input and output images.
    depth : int
        Number of 2x downsamplings; inputs are padded to a multiple of
        ``2**depth`` and cropped back.
    width : int
        Feature maps of the first level; doubled at each level.
    latent_dim : int
        Length of the latent vector (not for ``"unet"``).
    input_size : int
        Side of the square input the dense bottleneck is built for
        (not for ``"unet"``).
    residual : bool
        Predict a correction added to the input (``"unet"`` only; needs
        ``in_channels == out_channels``).
    factor : int
        Output pixels per input pixel along Y and X: 1, or 2, 3 or 4 for
        ``"superres"``.
    blocks : int
        Residual blocks of the ``"superres"`` network.
    channelwise : bool
        Upscale one channel at a time (``"superres"`` only), as the shipped
        single-channel super-resolution priors do; the recipe sets it when
        it starts from one.
    hidden_dim : int
        Units of the hidden layer of ``"vae-dense"`` (784-512-latent in the
        textbook MNIST example).

        The sizes above have upper bounds (:data:`MODEL_LIMITS`), so that a
        config, e.g. a model file's, cannot ask for a network that does not
        fit in memory.
    reconstruction_loss : {"bce", "mse"}
        The VAE and AAE decoder's likelihood: ``"bce"`` (sigmoid output,
        binary cross-entropy) for images normalised to [0, 1], ``"mse"``
        (linear output, Gaussian of unit variance) otherwise.
    noise_gain, noise_variance : float
        The data's noise on the normalised scale, of variance
        ``noise_gain * intensity + noise_variance`` (``"unet"`` only). When
        either is positive the U-Net denoises in the variance-stabilised
        domain: generalised Anscombe transform, the network (one channel at
        a time, scaled to the noise level the shipped prior was trained
        for), unbiased inverse (see :mod:`.prior`). Both 0: a plain U-Net.
    opponent_colours : bool
        Denoise three channels of Gaussian noise (``noise_gain`` 0, e.g. an
        RGB photograph) in an orthonormal opponent colour space, one
        brightness and two colour-difference channels, and rotate back: the
        noise stays white with the same variance, while the structure the
        channels share gathers in the brightness (the colour transform of
        CBM3D). The trainer sets it for such data.
    clip_low, clip_high : float or None
        The levels, in the input's own units (0 and 255 for an 8-bit
        image), at which its noisy values were clipped, None where they
        were not (with a noise model only). The denoised values, which the
        network learnt as the mean of clipped noisy ones, are mapped back
        to clean values (:func:`.data.stabilization.declip_noise`): at both levels for
        Gaussian noise, at ``clip_high`` alone for Poisson-Gaussian noise,
        whose zero photons lie at the low level, where clipping cuts only
        read noise. Self-supervised training sets them when it finds
        clipped noise.
    noise_strides : (int, int)
        Strides (Y, X) of the interleaved phases the model denoises apart,
        for noise correlated along rows or columns (:mod:`.data.correlation`);
        (1, 1), the whole image at once. 2D self-supervised training sets
        them where it measures such noise (in an image in memory,
        or a sample of a collection's planes) or ``data.noise_strides`` asks.
    prior : {"gaussian", "mixture"}
        The AAE's prior (architecture ``"aae"`` only): ``"gaussian"``, the
        standard normal, or ``"mixture"``, 10 Gaussians on a circle, for a
        latent of 2 dimensions.
    padding : {"zeros", "replicate"}
        How the 3x3 convolutions of the decoder of ``"autoencoder"``,
        ``"vae"`` and ``"aae"`` pad their feature maps. ``"zeros"``, the
        default of model files made before this field, leaves a bright
        ring at the border of decoded images (issue 14); the recipe gives
        new models ``"replicate"``.
    """

    architecture: str = Architecture.UNET.value
    in_channels: int = 1
    out_channels: int = 1
    depth: int = 2
    width: int = 32
    latent_dim: int = 16
    input_size: int = 64
    residual: bool = False
    factor: int = 1
    blocks: int = 4
    channelwise: bool = False
    hidden_dim: int = 512
    reconstruction_loss: str = ReconstructionLoss.BCE.value
    prior: str = Prior.GAUSSIAN.value
    noise_gain: float = 0.0
    noise_variance: float = 0.0
    opponent_colours: bool = False
    clip_low: float | None = None
    clip_high: float | None = None
    noise_strides: tuple[int, int] = (1, 1)
    spatial_dims: int = 2
    padding: str = Padding.ZEROS.value

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field and a valid choice."""
        _check_choice("model.architecture", self.architecture, Architecture)
        for name, limit in MODEL_LIMITS.items():
            _check_positive(f"model.{name}", getattr(self, name))
            _check_at_most(f"model.{name}", getattr(self, name), limit)
        superres = self.architecture == Architecture.SUPERRES.value
        if superres and self.factor not in FACTORS:
            raise ValueError(
                f"model.factor must be one of {list(FACTORS)} for super-resolution, got {self.factor}."
            )
        if superres and self.in_channels != self.out_channels:
            raise ValueError(
                "a 'superres' model adds its output to the upscaled input, so it needs as many "
                f"output as input channels, got {self.in_channels} in and {self.out_channels} out."
            )
        if self.channelwise and not superres:
            raise ValueError(
                "model.channelwise applies to the 'superres' architecture only, got "
                f"{self.architecture!r}; set it to false."
            )
        if not superres and self.factor != 1:
            raise ValueError(
                f"model.factor ({self.factor}) changes the image size; only the 'superres' "
                "architecture upscales, use factor 1 for the others."
            )
        _check_choice("model.reconstruction_loss", self.reconstruction_loss, ReconstructionLoss)
        _check_choice("model.prior", self.prior, Prior)
        if self.spatial_dims not in (2, 3):
            raise ValueError(
                f"model.spatial_dims must be 2 (planes) or 3 (volumes), got {self.spatial_dims}."
            )
        if self.spatial_dims == 3 and self.architecture != Architecture.UNET.value:
            raise ValueError(
                f"only the 'unet' architecture has a 3D version, got {self.architecture!r} with "
                "model.spatial_dims 3; use spatial_dims 2."
            )
        _check_choice("model.padding", self.padding, Padding)
        _check_strides("model.noise_strides", self.noise_strides)
        if not 1 <= self.depth <= 6:
            raise ValueError(f"model.depth must be between 1 and 6, got {self.depth}.")
        convolutional = (Architecture.AUTOENCODER.value, Architecture.VAE.value, Architecture.AAE.value)
        if self.architecture in convolutional:
            if self.input_size < 2**self.depth:
                raise ValueError(
                    f"model.input_size ({self.input_size}) must be at least "
                    f"2**depth = {2**self.depth}; lower the depth or use larger patches."
                )
        stabilized = self.noise_gain > 0 or self.noise_variance > 0
        if not (self.noise_gain >= 0 and self.noise_variance >= 0 and math.isfinite(self.noise_gain)
                and math.isfinite(self.noise_variance)):
            raise ValueError(
                f"model.noise_gain ({self.noise_gain}) and model.noise_variance "
                f"({self.noise_variance}) must be finite and not negative."
            )
        if stabilized and (self.architecture != Architecture.UNET.value or not self.residual
                           or self.in_channels != self.out_channels or self.spatial_dims != 2):
            raise ValueError(
                "a noise model (model.noise_gain, model.noise_variance) applies to a residual "
                "2D 'unet' with as many input as output channels only."
            )
        if self.opponent_colours and not (stabilized and self.noise_gain == 0 and self.in_channels == 3):
            raise ValueError(
                "model.opponent_colours applies to a U-Net with a Gaussian noise model "
                "(model.noise_variance above 0, model.noise_gain 0) on 3 channels only; "
                "set it to false."
            )
        self._check_clip_levels(stabilized)
        if self.residual and self.in_channels != self.out_channels:
            raise ValueError(
                "model.residual needs as many output as input channels, got "
                f"{self.in_channels} in and {self.out_channels} out."
            )

    def _check_clip_levels(self, stabilized: bool) -> None:
        """Raise ``ValueError`` unless ``clip_low`` and ``clip_high`` are finite, ordered, with a noise model."""
        levels = [level for level in (self.clip_low, self.clip_high) if level is not None]
        if not levels:
            return
        if not all(math.isfinite(level) for level in levels):
            raise ValueError(
                f"model.clip_low ({self.clip_low}) and model.clip_high ({self.clip_high}) "
                "must be finite numbers or null."
            )
        if len(levels) == 2 and self.clip_low >= self.clip_high:
            raise ValueError(
                f"model.clip_low ({self.clip_low}) must be below model.clip_high ({self.clip_high})."
            )
        if not stabilized:
            raise ValueError(
                "model.clip_low and model.clip_high apply to a U-Net with a noise model "
                "(model.noise_gain or model.noise_variance above 0) only; set them to null."
            )


@dataclass
class DataConfig:
    """How arrays become training samples.

    Parameters
    ----------
    axes : str
        Axis order of the input arrays, e.g. ``"YX"``, ``"SYX"``, ``"YXC"``.
    patch_size : int
        Side of the square training patches (pixels).
    batch_size : int
        Patches per optimisation step.
    validation_fraction : float
        Share of the data held out for validation (whole planes for stacks,
        a strip of rows for a single image).
    augment : bool
        Random flips and 90 degree rotations of the patches.
    percentiles : tuple of float
        Low and high percentiles mapped to 0 and 1 by the normalisation.
    patch_z : int
        Planes (Z) of the training patches of a 3D network
        (``model.spatial_dims`` 3), whose patches are ``patch_z`` x
        ``patch_size`` x ``patch_size`` boxes; unused in 2D.
    noise_strides : (int, int) or None
        Strides (Y, X) of the interleaved sets that 2D self-supervised
        denoising (the prior's fine-tuning, or Noise2Void from random
        weights) splits a noisy image into, for noise
        correlated along rows, columns or both (:mod:`.data.correlation`);
        (1, 1) keeps the image whole. None measures the correlation and
        splits along one axis where it finds one. The strides used go to
        ``model.noise_strides``.
    """

    axes: str = "YX"
    patch_size: int = 64
    batch_size: int = 16
    validation_fraction: float = 0.1
    augment: bool = True
    percentiles: tuple[float, float] = (1.0, 99.8)
    patch_z: int = 16
    noise_strides: tuple[int, int] | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field and a valid choice."""
        _check_finite("data", self)
        if self.noise_strides is not None:
            _check_strides("data.noise_strides", self.noise_strides)
        try:
            check_axes(self.axes, len(self.axes))
        except ValueError as err:
            raise ValueError(f"data.axes is unusable: {err}") from err
        _check_positive("data.patch_size", self.patch_size)
        _check_positive("data.batch_size", self.batch_size)
        _check_positive("data.patch_z", self.patch_z)
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(
                "data.validation_fraction must be in [0, 0.5), got "
                f"{self.validation_fraction}."
            )
        low, high = self.percentiles
        if not 0.0 <= low < high <= 100.0:
            raise ValueError(
                f"data.percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}."
            )


@dataclass
class TrainingConfig:
    """Task, optimiser and stopping rules.

    Parameters
    ----------
    task : {"denoise", "reconstruct", "superres", "vae", "aae"}
        What the network learns.
    mode : str
        Source of the targets: ``"synthetic"``, ``"paired"`` or
        ``"self-supervised"`` for denoising; ``"from-highres"``, ``"paired"``
        or ``"zero-shot"`` for super-resolution (see :data:`TASK_MODES`).
    noise : str
        Noise added on the fly in ``"synthetic"`` mode, e.g.
        ``"gaussian:0.1"``, ``"poisson:30"``, ``"saltpepper:0.05"``, or
        several joined with ``"+"`` (see :func:`.noise.parse_noise`).
    epochs : int
        Upper bound on epochs.
    steps_per_epoch : int
        Optimisation steps between two validations.
    time_budget : float or None
        Stop after this many seconds of training (the learning-rate
        schedule then follows the elapsed time).
    learning_rate, weight_decay : float
        AdamW parameters; the learning rate follows a cosine decay.
    patience : int
        Stop after this many epochs without a better validation loss
        (never with the neighbour term, which keeps the last weights).
    seed : int
        Seeds the weights, the patch sampling and the noise; from 0 to
        :data:`MAX_SEED` for a training, to :data:`MAX_STORED_SEED` in a
        stored config.
    mask_fraction : float
        Share of pixels masked per patch in ``"self-supervised"`` mode.
    mask_radius : int
        Masked pixels take the value of a random neighbour at most this far.
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), or a torch device name.
    downscale : str
        How super-resolution inputs are made from larger images in the
        ``"from-highres"`` and ``"zero-shot"`` modes: ``"area"`` (block
        average) or ``"gaussian:SIGMA"`` (blur of SIGMA high-resolution
        pixels, then decimation); see :func:`.resolution.downscale`.
    beta : float
        Weight of the KL term of the VAE loss (1 gives the ELBO).
    kl_warmup : int
        Steps over which the KL weight rises linearly from 0 to ``beta``
        (0: no warm-up); validation always uses ``beta``.
    neighbour_weight : float
        Weight of the neighbour term of tasks ``"reconstruct"`` and ``"vae"``
        (0: off): frames that are near neighbours in pixel space are kept
        near in the latent space by a contrastive neighbour-embedding loss
        (see :mod:`.neighbours`). Each frame is one item, so the frames must
        be the size of the patch, and a batch must hold at least 2 pairs
        (``data.batch_size`` of 4 or more). During the first 30 % of the
        training the term's attraction is exaggerated, so the training loss
        drops when that ends; validation always uses the plain term. The
        training keeps its last weights and never stops early.
    neighbours : int
        Nearest neighbours of each frame (k) for the graph of the neighbour
        term: frames among each other's k nearest neighbours form pairs,
        and so does each frame with its nearest neighbour.
    pretrained : bool
        Task ``"denoise"``: start from the denoising prior shipped with the
        package (:mod:`.prior`) instead of random weights, and fine-tune it.
        The network is then the prior's U-Net working in the
        variance-stabilised domain of the data's noise (estimated from the
        data, or given by ``noise`` in ``"synthetic"`` mode);
        ``"self-supervised"`` fine-tuning uses recorrupted pairs (Gaussian
        noise) or binomially thinned pairs (Poisson-Gaussian noise) instead
        of blind-spot masking. The untuned prior is kept unless fine-tuning
        beats it on the validation data. Task ``"superres"``: start from
        the shipped upscaler of the factor (:mod:`.prior`), the default
        network applied one channel at a time (``model.channelwise``); the
        result never validates worse than the prior or bicubic interpolation.
    adversarial_rate : float
        Task ``"aae"``: learning rate of the discriminator and of the
        encoder's regularisation phase, as a share of the learning rate of
        the reconstruction phase (all follow the same cosine decay). Each
        phase has its own Adam optimiser, so this ratio, not a loss weight,
        sets how hard the codes are pushed toward the prior.
    """

    task: str = Task.DENOISE.value
    mode: str = Mode.SELF_SUPERVISED.value
    noise: str = "gaussian:0.1"
    epochs: int = 100
    steps_per_epoch: int = 50
    time_budget: float | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 20
    seed: int = 0
    mask_fraction: float = 0.02
    mask_radius: int = 2
    device: str = "auto"
    downscale: str = "area"
    beta: float = 1.0
    kl_warmup: int = 0
    neighbour_weight: float = 0.0
    neighbours: int = 15
    adversarial_rate: float = 0.5
    pretrained: bool = False

    def validate(self, *, stored: bool = False) -> None:
        """Raise ``ValueError`` naming the bad field and a valid choice.

        ``stored``: the config of a model file, whose seed may be up to
        :data:`MAX_STORED_SEED`.
        """
        budget = self.time_budget
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise ValueError(
                f"training.time_budget must be a positive, finite number of seconds, got "
                f"{budget}; leave it unset to train for the planned epochs."
            )
        _check_finite("training", self)
        _check_choice("training.task", self.task, Task)
        _check_choice("training.mode", self.mode, Mode)
        _check_positive("training.epochs", self.epochs)
        _check_positive("training.steps_per_epoch", self.steps_per_epoch)
        _check_positive("training.patience", self.patience)
        if self.learning_rate <= 0:
            raise ValueError(f"training.learning_rate must be positive, got {self.learning_rate}.")
        if not 0.0 < self.mask_fraction <= 0.25:
            raise ValueError(
                f"training.mask_fraction must be in (0, 0.25], got {self.mask_fraction}."
            )
        _check_positive("training.mask_radius", self.mask_radius)
        if self.beta < 0 or self.kl_warmup < 0:
            raise ValueError(
                f"training.beta ({self.beta}) and training.kl_warmup ({self.kl_warmup}) "
                "must not be negative."
            )
        if not self.neighbour_weight >= 0:  # NaN too
            raise ValueError(
                f"training.neighbour_weight must be 0 (off) or positive, got {self.neighbour_weight}."
            )
        _check_positive("training.neighbours", self.neighbours)
        most = MAX_STORED_SEED if stored else MAX_SEED
        if not 0 <= self.seed <= most:
            raise ValueError(
                f"training.seed must be an integer from 0 to {most}, got {self.seed}; "
                "use e.g. 0."
            )
        if not self.adversarial_rate > 0:  # NaN too
            raise ValueError(
                f"training.adversarial_rate must be positive (0.5 by default), got "
                f"{self.adversarial_rate}."
            )
        parse_noise(self.noise)
        parse_downscale(self.downscale)
        modes = TASK_MODES.get(self.task)
        if modes is not None and self.mode not in modes:
            raise ValueError(
                f"training.mode {self.mode!r} does not apply to task {self.task!r}; choose "
                f"one of {list(modes)}."
            )


@dataclass
class Config:
    """Everything needed to rebuild and retrain a model."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    version: int = CONFIG_VERSION

    def validate(self, *, stored: bool = False) -> Config:
        """Check every field and the fields against each other; return self.

        ``stored``: the config of a model file, which may hold what earlier
        versions wrote (:meth:`TrainingConfig.validate`).
        """
        self.model.validate()
        self.data.validate()
        self.training.validate(stored=stored)
        self._check_variational()
        self._check_adversarial()
        self._check_pretrained()
        if self.model.architecture in LATENT_ARCHITECTURES:
            if self.model.input_size != self.data.patch_size:
                raise ValueError(
                    f"model.input_size ({self.model.input_size}) must equal "
                    f"data.patch_size ({self.data.patch_size}) for the dense autoencoder."
                )
        elif self.training.task == Task.RECONSTRUCT.value:
            raise ValueError(
                "training.task 'reconstruct' needs model.architecture 'autoencoder': a "
                "U-Net's skip connections would copy the input past the bottleneck."
            )
        latent_task = self.training.task in (Task.RECONSTRUCT.value, Task.VAE.value)
        if self.training.neighbour_weight > 0 and not latent_task:
            raise ValueError(
                "training.neighbour_weight shapes a latent space: it applies to tasks "
                f"'reconstruct' and 'vae', not {self.training.task!r}; set it to 0."
            )
        if self.training.neighbour_weight > 0 and self.data.batch_size < 4:
            # one pair per batch has no other frame to tell its neighbour from: no gradient
            raise ValueError(
                f"the neighbour term needs data.batch_size of at least 4 (2 pairs), got "
                f"{self.data.batch_size}."
            )
        self._check_volumes()
        self._check_noise_strides()
        superres = self.training.task == Task.SUPERRES.value
        if superres != (self.model.architecture == Architecture.SUPERRES.value):
            raise ValueError(
                "training.task 'superres' and model.architecture 'superres' go together; "
                f"got task {self.training.task!r} with architecture {self.model.architecture!r}."
            )
        # from random weights; the prior fine-tunes on whole pairs, unmasked
        blind_spot = (self.training.task, self.training.mode) == (
            Task.DENOISE.value,
            Mode.SELF_SUPERVISED.value,
        ) and not self.training.pretrained
        if blind_spot and self.data.patch_size <= 2 * self.training.mask_radius:
            # a masked pixel's neighbour must fit in the patch on one side or the other
            smallest = 2 * self.training.mask_radius + 1
            raise ValueError(
                f"data.patch_size ({self.data.patch_size}) must exceed 2 * "
                f"training.mask_radius ({self.training.mask_radius}): blind-spot masking needs "
                f"patches, and images, of at least {smallest}x{smallest} pixels; use larger "
                "patches or a smaller radius."
            )
        return self

    def _check_volumes(self) -> None:
        """A 3D network needs a Z axis, and a blind spot's neighbour must fit in the patch's Z."""
        if self.model.spatial_dims != 3:
            return
        if "Z" not in self.data.axes:
            raise ValueError(
                f"a 3D network needs data with a Z axis, but data.axes is {self.data.axes!r}; "
                "give axes with Z (e.g. 'ZYX') or use a 2D network (model.spatial_dims 2)."
            )
        blind_spot = (self.training.task, self.training.mode) == (
            Task.DENOISE.value,
            Mode.SELF_SUPERVISED.value,
        )
        if blind_spot and self.data.patch_z <= 2 * self.training.mask_radius:
            raise ValueError(
                f"data.patch_z ({self.data.patch_z}) must exceed 2 * training.mask_radius "
                f"({self.training.mask_radius}); use thicker patches or a smaller radius."
            )

    def _check_variational(self) -> None:
        """Task "vae" and the variational architectures go together; BCE needs [0, 1] data.

        The BCE rule holds for the adversarial autoencoder's decoder too.
        """
        variational = self.model.architecture in VARIATIONAL_ARCHITECTURES
        if variational != (self.training.task == Task.VAE.value):
            raise ValueError(
                f"training.task {self.training.task!r} does not fit model.architecture "
                f"{self.model.architecture!r}: task 'vae' needs architecture 'vae' or "
                "'vae-dense', and those architectures need task 'vae'."
            )
        generative = self.model.architecture in GENERATIVE_ARCHITECTURES
        bce = self.model.reconstruction_loss == ReconstructionLoss.BCE.value
        if generative and bce and tuple(self.data.percentiles) != (0.0, 100.0):
            raise ValueError(
                f"model.reconstruction_loss 'bce' needs images normalised to [0, 1]: set "
                f"data.percentiles to (0, 100) (min-max), not {tuple(self.data.percentiles)}, "
                "or use reconstruction_loss 'mse'."
            )

    def _check_noise_strides(self) -> None:
        """Strides asked for split the noisy image of 2D self-supervised denoising only."""
        if self.data.noise_strides is None:
            return
        splits = (
            (self.training.task, self.training.mode) == (Task.DENOISE.value, Mode.SELF_SUPERVISED.value)
            and self.model.spatial_dims == 2
        )
        if not splits:
            raise ValueError(
                "data.noise_strides splits the noisy image for self-supervised denoising (task "
                "'denoise', mode 'self-supervised', a 2D network); leave it out (None) here."
            )

    def _check_pretrained(self) -> None:
        """Raise ``ValueError`` unless a pretrained start fits the task, network and noise."""
        if not self.training.pretrained:
            return
        priors = {Task.DENOISE.value: PRIOR_NETWORK, Task.SUPERRES.value: SUPERRES_PRIOR_NETWORK}
        if self.training.task not in priors:
            raise ValueError(
                f"training.pretrained starts from a shipped prior, the denoiser or an upscaler: "
                f"it applies to task 'denoise' or 'superres', not {self.training.task!r}; set it "
                "to false."
            )
        expected = priors[self.training.task]
        network = {name: getattr(self.model, name) for name in expected}
        if network != expected:
            raise ValueError(
                f"training.pretrained needs the prior's network {expected}, got {network}; "
                "leave the network settings at their defaults, or train from random weights "
                "(pretrained false; --no-pretrained; start from random weights in the widget)."
            )
        synthetic = self.training.mode == Mode.SYNTHETIC.value
        if synthetic and has_saltpepper(self.training.noise):
            raise ValueError(
                "the pretrained prior removes Gaussian and Poisson noise, not salt-and-pepper; "
                "train from random weights for that noise (training.pretrained false; "
                "--no-pretrained; start from random weights in the widget)."
            )

    def _check_adversarial(self) -> None:
        """Task "aae" and architecture "aae" go together; the mixture prior is 2-D."""
        adversarial = self.model.architecture == Architecture.AAE.value
        if adversarial != (self.training.task == Task.AAE.value):
            raise ValueError(
                f"training.task {self.training.task!r} does not fit model.architecture "
                f"{self.model.architecture!r}: task 'aae' and architecture 'aae' go together."
            )
        if self.model.prior != Prior.GAUSSIAN.value and not adversarial:
            raise ValueError(
                f"model.prior {self.model.prior!r} applies to task 'aae' only (a VAE's prior is "
                "the standard normal); leave it 'gaussian'."
            )
        if self.model.prior == Prior.MIXTURE.value and self.model.latent_dim != 2:
            raise ValueError(
                f"the 'mixture' prior lies in a plane: it needs model.latent_dim 2, got "
                f"{self.model.latent_dim}; set latent_dim 2 or use prior 'gaussian'."
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-serialisable data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, written_by: str | None = None) -> Config:
        """Rebuild a config from :meth:`to_dict` output.

        ``written_by``: the napari-autoencoders version that wrote it, if
        known, named where the config has fields this version does not know.

        Every field present must have its declared type: JSON numbers for
        floats, whole numbers for integers (not ``8.0``, not ``true``),
        ``true`` or ``false`` for booleans, strings for strings. Missing fields
        take their defaults, so files from before a field was added still load,
        and seeds up to :data:`MAX_STORED_SEED`, which earlier versions trained
        with, are accepted (a training takes them up to :data:`MAX_SEED`).

        Raises
        ------
        ValueError
            If ``data`` is not a dict, the version is newer than this package
            understands, or a section is missing, has unknown fields or a
            field of the wrong type.
        """
        if not isinstance(data, dict):
            raise ValueError(
                f"config is malformed: expected a JSON object of sections, got "
                f"{type(data).__name__} {data!r:.60}."
            )
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(
                f"config version must be a whole number, got {version!r}; the file is corrupt "
                "or was edited."
            )
        if version != CONFIG_VERSION:
            raise ValueError(
                f"config version {version!r} is not supported (this package reads "
                f"version {CONFIG_VERSION}); update napari-autoencoders."
            )
        try:
            model = _section(ModelConfig, "model", data["model"], written_by)
            data_cfg = _section(DataConfig, "data", data["data"], written_by)
            data_cfg.percentiles = tuple(data_cfg.percentiles)
            model.noise_strides = tuple(model.noise_strides)
            if data_cfg.noise_strides is not None:
                data_cfg.noise_strides = tuple(data_cfg.noise_strides)
            training = _section(TrainingConfig, "training", data["training"], written_by)
        except (KeyError, TypeError) as err:
            raise ValueError(f"config is malformed: {err}") from err
        config = cls(model=model, data=data_cfg, training=training, version=version)
        return config.validate(stored=True)


def _section(kind: type, name: str, values: Any, written_by: str | None = None):
    """Build section ``kind`` from ``values`` after checking each field and its type."""
    if not isinstance(values, dict):
        raise ValueError(
            f"config is malformed: section {name!r} must be a JSON object, got "
            f"{type(values).__name__}."
        )
    known = {item.name for item in dataclasses.fields(kind)}
    if unknown := sorted(str(key) for key in values if key not in known):
        raise ValueError(_unknown_fields(name, unknown, written_by))
    if found := wrong_type(kind, values):
        key, needed = found
        value = values[key]
        raise ValueError(
            f"config field {name}.{key} must be {needed}, got "
            f"{type(value).__name__} {value!r:.40}; the file is corrupt or was edited."
        )
    return kind(**values)


def _unknown_fields(section: str, names: list[str], written_by: str | None) -> str:
    """Why a config with fields ``names`` in ``section`` cannot be read, and what to do."""
    fields = ", ".join(f"{section}.{name}" for name in names[:5]) + ", ..." * (len(names) > 5)
    known = f"config field(s) {fields} are unknown to napari-autoencoders {__version__}"
    if written_by is None:
        return f"{known}: the file was written by a newer version; update napari-autoencoders."
    if _is_newer(written_by, __version__):
        return (
            f"{known}: the file was written by a newer version ({written_by!s:.40}); update "
            "napari-autoencoders to read it."
        )
    return (
        f"{known}, and the file says that version {written_by!s:.40}, not a newer one, wrote "
        "it: it was edited or is corrupt."
    )


def _is_newer(version: str, than: str) -> bool:
    """Whether release ``version`` (e.g. ``"0.2.1"``) is after ``than``; False if unreadable."""
    found = [re.match(r"[0-9]+(?:\.[0-9]+)*", str(v)[:40]) for v in (version, than)]
    if not all(found):
        return False
    release, other = ([int(part) for part in match.group().split(".")] for match in found)
    width = max(len(release), len(other))  # 0.2 is 0.2.0
    return release + [0] * (width - len(release)) > other + [0] * (width - len(other))


def closest_name(name: str, known: typing.Iterable[str]) -> str | None:
    """The name of ``known`` that a misspelt ``name`` most likely meant, or None."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return close[0] if close else None


def wrong_type(kind: type, values: dict) -> tuple[str, str] | None:
    """The first of ``values`` that does not fit its field of section ``kind``, and what it must be.

    JSON's types: whole numbers for integers (not ``8.0``, not ``True``),
    numbers for floats, lists for tuples. None when every value fits.
    """
    hints = typing.get_type_hints(kind)
    for key, value in values.items():
        if key in hints and not _has_type(value, hints[key]):
            return key, _type_name(hints[key])
    return None


def _has_type(value: Any, hint: Any) -> bool:
    """Whether a JSON ``value`` fits the field type ``hint`` (bool is not a number here)."""
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if hint is int:
        return isinstance(value, int)
    if hint is float:
        return isinstance(value, (int, float))
    if hint is str:
        return isinstance(value, str)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return isinstance(value, (list, tuple)) and len(value) == len(args) and all(
            _has_type(item, arg) for item, arg in zip(value, args)
        )
    if args:  # a union such as ``float | None``
        return any(value is None if arg is type(None) else _has_type(value, arg) for arg in args)
    return True


def _type_name(hint: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return f"a list of {len(args)} numbers"
    return " or ".join("null" if arg is type(None) else _type_name(arg) for arg in args)


def _check_finite(section: str, values: Any) -> None:
    """Raise ``ValueError`` if a float field (or a number in a tuple field) is NaN or infinite."""
    for item in dataclasses.fields(values):
        value = getattr(values, item.name)
        numbers = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(n, float) and not math.isfinite(n) for n in numbers):
            raise ValueError(
                f"{section}.{item.name} must be a finite number, got {value}."
            )


def _check_positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}.")


def _check_at_most(name: str, value: int, limit: int) -> None:
    if value > limit:
        raise ValueError(f"{name} must be at most {limit}, got {value}.")


def _check_choice(name: str, value: str, enum: type[Enum]) -> None:
    choices = [member.value for member in enum]
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


def _check_strides(name: str, strides) -> None:
    """Raise ``ValueError`` unless ``strides`` are two whole numbers from 1 to :data:`MOST_NOISE_STRIDE`."""
    valid = (
        isinstance(strides, (tuple, list))
        and len(strides) == 2
        and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in strides)
        and all(1 <= s <= MOST_NOISE_STRIDE for s in strides)
    )
    if not valid:
        raise ValueError(
            f"{name} must be two whole numbers (Y, X) from 1 to {MOST_NOISE_STRIDE}, got "
            f"{strides!r}."
        )
