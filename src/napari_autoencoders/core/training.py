"""Training: a generator of progress events that any front end can drive and stop.

>>> trainer = Trainer(config, noisy)               # doctest: +SKIP
>>> for event in trainer.run():                    # doctest: +SKIP
...     print(event.step, event.loss)
>>> model = trainer.result()                       # best weights so far  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .calibration import Calibration, calibrate, noise_sample, split_strides
from .config import ZERO_SHOT_MIN_SIDE, Config, Mode, Task
from .data.canvas import canvas_mask
from .data.collection import ImageCollection
from .data.correlation import to_phases
from .data.neighbours import (
    exaggeration_at,
    neighbour_loss,
)
from .data.normalization import Normalizer
from .fine_tuning import (
    CHECK_PHOTONS,
    PriorCheck,
    kept_prior_reason,
    on_pairs,
    pull_to_prior,
    thinned,
)
from .latent.density import LatentDensity
from .latent.encoding import latent_of
from .model import TrainedModel
from .nn.adversarial import AdversarialRegularizer
from .nn.device import channels_last, select_device
from .nn.models import build_model
from .objectives import objective_for, to_device
from .planes import check_collection, input_planes, target_normalizer
from .prior import pretrained_network
from .progress import Cancelled, checkpoint, stoppable
from .sampling import samplers_for

#: Batches in the fixed validation set.
VALIDATION_BATCHES = 4
#: The upscaler that super-resolution starts from, and keeps where nothing validates better.
BICUBIC = "bicubic upscaling"


@dataclass
class TrainingEvent:
    """Progress after one optimisation step.

    ``val_loss`` is set on the last step of an epoch, after validation.
    ``fraction`` runs from 0 to 1 over the planned steps or time budget: the
    share done when the step ended, at ``elapsed`` seconds.
    """

    step: int
    epoch: int
    loss: float
    elapsed: float
    learning_rate: float
    fraction: float
    val_loss: float | None = None




class Trainer:
    """Train the network ``config`` describes on arrays.

    Parameters
    ----------
    config : Config
        Model, data and training settings; channels are taken from the data.
    inputs : ndarray or ImageCollection
        Images with axes ``config.data.axes``: clean images in ``synthetic``
        mode, noisy ones otherwise; for super-resolution the high-resolution
        images (``from-highres``) or the low-resolution ones (``paired``,
        ``zero-shot``). An :class:`.collection.ImageCollection` (many files,
        zarr stores) is read patch by patch through its bounded cache, for
        the tasks that learn from the input alone, without the neighbour term;
        its normalisation is fitted to a sample of its blocks.
    targets : ndarray, optional
        Clean images of the same shape as ``inputs`` (``paired`` denoising),
        or high-resolution images ``factor`` times larger in Y and X
        (``paired`` super-resolution).

    Notes
    -----
    A 3D network (``model.spatial_dims`` 3) trains on volumes
    (:func:`.axes.to_volumes`): boxes of ``data.patch_z`` planes, blind-spot
    masking over a 3D neighbourhood, noise and losses over every voxel.

    With ``training.neighbour_weight`` above 0 (tasks ``"reconstruct"`` and
    ``"vae"``), each batch holds pairs of frames that are near neighbours in
    pixel space, and the loss adds the weighted neighbour term of
    :mod:`.neighbours` on their latent codes.

    Task ``"aae"`` follows each step (the reconstruction phase) with the
    discriminator's and the encoder's regularisation phases of an
    :class:`.adversarial.AdversarialRegularizer`; its training and
    validation losses are the reconstruction loss alone (nats per image),
    so the best weights are the best reconstructing ones.

    Raises
    ------
    ValueError
        If the config or the arrays are unusable; the message says why.
    """

    #: The low-resolution training planes' shorter side (super-resolution).
    _low_side: int | None = None
    #: Whether no validation data could be held out: validation runs on the training data.
    _unvalidated: bool = False
    #: The normalised noisy planes (N, C, Y, X) the noise was fitted on (a collection's
    #: sample; an array's phases once split), from :meth:`_calibrate` to the
    #: :class:`.fine_tuning.PriorCheck`; dropped after :meth:`prepare`.
    _noisy_planes: np.ndarray | None = None
    #: A collection's sample, raw (:meth:`_collection_sample`); dropped after :meth:`prepare`.
    _sample_planes: np.ndarray | None = None
    #: The canvases (:func:`.data.canvas.canvas_mask`) of a self-supervised training's planes.
    _canvas: np.ndarray | None = None
    #: What :meth:`_keep_prior_if_worse` holds the fine-tuned weights against.
    _prior_check: PriorCheck | None = None

    def __init__(
        self,
        config: Config,
        inputs: np.ndarray | ImageCollection,
        targets: np.ndarray | None = None,
    ):
        config = copy.deepcopy(config).validate()
        if isinstance(inputs, ImageCollection):
            self._init_collection(config, inputs, targets)
            return
        planes, target_planes = input_planes(config, inputs, targets)
        if config.training.task == Task.SUPERRES.value:
            self._low_side = min(planes.shape[-2:])
        # as many channels in as out, as validated: the data's
        channels = planes.shape[1]
        config.model = dataclasses.replace(config.model, in_channels=channels, out_channels=channels)
        self.config = config
        # zero-shot: the image itself, which the model will be applied to, not its smaller
        # copy (a copy of a few pixels has other percentiles, and the result suffered)
        zero_shot = config.training.mode == Mode.ZERO_SHOT.value
        self.input_norm = Normalizer.fit(target_planes if zero_shot else planes, config.data.percentiles)
        self.target_norm = (
            target_normalizer(config, planes, target_planes, self.input_norm)
            if targets is not None
            else self.input_norm
        )
        # the rest waits for prepare(), which run() calls in the training thread
        self._planes: tuple[np.ndarray, np.ndarray] | None = (planes, target_planes)
        self._init_state()

    def _init_collection(self, config: Config, collection: ImageCollection, targets) -> None:
        """Set up a training on a collection of lazy images, read through its cache.

        Only the tasks that learn from random patches of the input alone take
        one (:func:`.planes.check_collection`).
        """
        check_collection(config, collection, targets)
        channels = collection.channels
        config.model = dataclasses.replace(config.model, in_channels=channels, out_channels=channels)
        self.config = config
        # percentiles of a sample of blocks: the data may not fit in memory
        sample, _ = collection.sample_values(np.random.default_rng(config.training.seed))
        self.input_norm = self.target_norm = Normalizer.fit(sample, config.data.percentiles)
        self._planes = (collection, collection)
        self._init_state()

    def _init_state(self) -> None:
        """The training's state before :meth:`prepare`."""
        self.optimizer: torch.optim.Optimizer | None = None
        self.regularizer: AdversarialRegularizer | None = None
        #: The prior's weights, that self-supervised fine-tuning is pulled back to.
        self.anchor: list[torch.Tensor] | None = None
        self.history: list[dict] = []
        self.best_loss = math.inf
        self.best_state: dict | None = None
        #: The epoch whose weights :meth:`result` holds; None while it holds :attr:`start`.
        self.best_epoch: int | None = None
        #: What training starts from, and keeps where no epoch validates better.
        self.start = "the untrained network"
        self._step = 0
        self._stop = False
        #: Whether :meth:`stop` interrupted the preparation: :meth:`run` ended, with no model.
        self.cancelled = False
        #: The validation loss of the input itself (:meth:`.objectives.Objective.input_loss`), once prepared.
        self.input_loss: float | None = None
        #: The latent density a VAE's training ends with (:mod:`.latent.density`).
        self.density: LatentDensity | None = None
        #: What was found of the noisy input: the strides its noise is split at
        #: (:func:`.calibration.split_strides`) and, for the prior, its noise
        #: (:func:`.calibration.calibrate`).
        self.calibration = Calibration()

    def prepare(self) -> None:
        """Normalise the data, build the network and optimiser, draw the validation batches.

        :meth:`run` calls it first, so that this work (a good share of a
        second on a small image, more on a large one; and, for a process's
        first optimiser, the import of ``torch._dynamo``) happens in the
        thread that trains, not in a GUI's event loop. Later calls do nothing.
        Within :func:`.progress.stoppable` (as :meth:`run` calls it) it stops
        between its parts once :meth:`stop` is called, raising
        :class:`.progress.Cancelled`; a large stack's preparation takes tens
        of seconds.
        """
        if self.cancelled:
            raise RuntimeError("this training was cancelled while it prepared: it has no model.")
        if self._planes is None:
            return
        checkpoint()
        planes, target_planes = self._planes
        collection = isinstance(planes, ImageCollection)  # normalised patch by patch as sampled
        if self._mode == Mode.SELF_SUPERVISED.value:
            self._leave_out_canvases(planes)
        x = planes if collection else self.input_norm.normalize(planes)
        superres = self.config.training.task == Task.SUPERRES.value
        if self._splits_noise:  # a collection's sampled windows split alike
            sample, sides = (self._collection_sample(planes), planes.plane_sides) if collection else (x, None)
            split_strides(self.calibration, sample, self.config, sides)
        checkpoint()
        if self.config.training.pretrained and not superres:
            x = self._calibrate(x, planes)  # may rescale the normalisations' channels
        checkpoint()
        strides = self.config.model.noise_strides
        if self._splits_noise and not collection and strides != (1, 1):  # train on the phases: white noise
            same = target_planes is planes
            x, planes = (to_phases(each, strides, crop=True) for each in (x, planes))
            target_planes = planes if same else target_planes
            self._noisy_planes = x if self._noisy_planes is not None else None
        y = x if collection or target_planes is planes else self.target_norm.normalize(target_planes)
        self._setup(x, y)
        checkpoint()
        self._frames = x if self._fits_density(x) else None
        with torch.no_grad():
            self.input_loss = self.objective.input_loss(self.validation)
        if superres:
            self._start_from_best_upscaler()
        elif self.config.training.pretrained:
            # the denoising prior: fine-tuning must beat it on the validation data
            self.best_loss = self._validate()
            self.best_state = copy.deepcopy(self.network.state_dict())
            self.start = "the shipped prior"
            few = self.calibration.fewest_photons < CHECK_PHOTONS
            if thinned(self.config) and self.config.model.spatial_dims == 2 and few:
                self._prior_check = PriorCheck.of(
                    self.network, self._noisy_planes, self.best_state, self.best_loss, self.device
                )
        if on_pairs(self.config):
            self.anchor = [weight.detach().clone() for weight in self.network.parameters()]
        self.optimizer = torch.optim.AdamW(
            self.network.parameters(),
            lr=self.config.training.learning_rate,
            weight_decay=self.config.training.weight_decay,
        )
        if self.config.training.task == Task.AAE.value:
            self.regularizer = AdversarialRegularizer(
                self.network,
                prior=self.config.model.prior,
                rate=self.config.training.adversarial_rate,
                seed=self.config.training.seed + 2,  # + 1 seeds the validation batches
                device=self.device,
            )
        self._planes = self._noisy_planes = self._sample_planes = self._canvas = None

    def _leave_out_canvases(self, planes: np.ndarray | ImageCollection) -> None:
        """Refit the input normalisation without the canvases of ``planes`` (:mod:`.data.canvas`).

        A canvas holds no noise, and is not data for the map, nor for the
        clip levels (:attr:`_canvas` keeps an array's for those). Found in
        :meth:`prepare`, in the training thread: every plane is searched,
        0.01 s a 2048x2048 plane of noisy values, 1.8 s where it holds a
        canvas. Self-supervised training has no targets: the target
        normalisation is the input's.
        """
        if isinstance(planes, ImageCollection):
            rng = np.random.default_rng(self.config.training.seed)
            sample, canvas = planes.sample_values(rng, canvases=True)
        else:
            sample, canvas = planes, canvas_mask(planes)
            self._canvas = canvas
        if canvas.any():
            self.input_norm = self.target_norm = Normalizer.fit(
                sample, self.config.data.percentiles, leave_out=canvas
            )

    def _collection_sample(self, collection: ImageCollection) -> np.ndarray:
        """:func:`.calibration.noise_sample` of ``collection``, normalised (N, C, S, S).

        Read once: :attr:`_sample_planes` keeps it raw.
        """
        if self._sample_planes is None:
            self._sample_planes = noise_sample(collection)
        return self.input_norm.normalize(self._sample_planes)

    def _start_from_best_upscaler(self) -> None:
        """Keep, as the result to beat, the better of bicubic interpolation and the prior.

        An untrained upscaler (its last convolution zero) is bicubic
        interpolation; a pretrained one is kept only where it validates
        better than that.
        """
        prior_loss = self._validate() if self.config.training.pretrained else math.inf
        self.best_state = copy.deepcopy(self.network.state_dict())
        if prior_loss < self.input_loss:
            self.best_loss, self.start = prior_loss, "the shipped upscaler"
            return
        self.best_loss, self.start = self.input_loss, BICUBIC
        for key in ("tail.weight", "tail.bias"):  # a zero tail adds no detail: bicubic
            self.best_state[key] = torch.zeros_like(self.best_state[key])

    def _setup(self, x: np.ndarray, y: np.ndarray) -> None:
        """Network, samplers and validation batches for normalised planes (N, C, Y, X)."""
        cfg = self.config
        seed = cfg.training.seed
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.device = select_device(cfg.training.device)
        network = pretrained_network(cfg.model) if cfg.training.pretrained else build_model(cfg.model)
        # channels-last convolutions run about 3x faster on CPU (measured, width 32)
        memory_format = channels_last(cfg.model.spatial_dims)
        self.network = network.to(self.device, memory_format=memory_format)
        self.objective = objective_for(cfg, self.network, self.device, self.calibration)
        if self._chooses_only:  # judged on the whole copy: too small to hold a validation strip
            self.sampler = None
            low, high = (to_device(torch.from_numpy(planes), self.device) for planes in (x, y))
            self.validation = [(low, high, None)]
            return
        self.sampler, val_sampler, self._unvalidated = samplers_for(
            cfg, x, y, rng, norm=self.input_norm, patch_noise=self.calibration.patch_noise
        )
        val_generator = torch.Generator().manual_seed(seed + 1)
        self.validation = [
            self.objective.batch(*val_sampler.sample(), val_generator) for _ in range(VALIDATION_BATCHES)
        ]

    def _calibrate(
        self, x: np.ndarray | ImageCollection, planes: np.ndarray | ImageCollection
    ) -> np.ndarray | ImageCollection:
        """Measure the noise of normalised planes ``x`` (raw: ``planes``) for the prior; return ``x`` readied.

        :func:`.calibration.calibrate` puts the noise model in the model
        config (for a collection, measured on :meth:`_collection_sample`);
        its rescaled normalisations replace the trainer's, and the noisy
        planes it measured stay for the :class:`.fine_tuning.PriorCheck`.
        """
        sample = (self._collection_sample(x), self._sample_planes) if isinstance(x, ImageCollection) else None
        norms = (self.input_norm, self.target_norm)
        data, self._noisy_planes, (self.input_norm, self.target_norm) = calibrate(
            self.calibration, x, planes, self.config, norms, canvas=self._canvas, sample=sample
        )
        return data

    @property
    def _neighbour_term(self) -> bool:
        """Whether the loss has the neighbour term (``training.neighbour_weight`` above 0)."""
        return self.config.training.neighbour_weight > 0

    @property
    def _chooses_only(self) -> bool:
        """Whether the training only chooses the shipped upscaler or bicubic, and never steps.

        So does zero-shot super-resolution on a downscaled copy under
        :data:`.config.ZERO_SHOT_MIN_SIDE` pixels: what it learned there came
        out below bicubic, while the upscaler or bicubic, whichever rebuilds
        the whole copy better, never fell below bicubic on real images
        (``bench/superres_real.py``, every x4 case).
        """
        training = self.config.training
        zero_shot = training.task == Task.SUPERRES.value and training.mode == Mode.ZERO_SHOT.value
        return zero_shot and training.pretrained and self._low_side < ZERO_SHOT_MIN_SIDE

    @property
    def _kept_prior_reason(self) -> str | None:
        """Why self-supervised fine-tuning keeps the prior without a training step, else None.

        :func:`.fine_tuning.kept_prior_reason`: no validation region held out, or much of the
        noise clipped.
        """
        if not on_pairs(self.config):
            return None
        return kept_prior_reason(
            unvalidated=self._unvalidated,
            clipped_share=self.calibration.clipped_share,
            model=self.config.model,
            patch_size=self.config.data.patch_size,
        )

    @property
    def _splits_noise(self) -> bool:
        """Whether noise correlated along rows or columns is split (self-supervised, 2D).

        Into the interleaved phases of :func:`.calibration.split_strides`: the prior's
        fine-tuning and Noise2Void's blind spot alike take pixels' noises
        for independent.
        """
        return self._mode == Mode.SELF_SUPERVISED.value and self.config.model.spatial_dims == 2

    @property
    def _mode(self) -> str | None:
        training = self.config.training
        return training.mode if training.task == Task.DENOISE.value else None

    def _loss(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, exaggeration: float = 1.0
    ) -> torch.Tensor:
        """The objective's loss (:mod:`.objectives`), plus the weighted neighbour term when it is on.

        ``exaggeration`` multiplies the attraction of the neighbour term early
        in the training (:func:`.neighbours.exaggeration_at`); validation
        measures the plain term, so its losses compare across epochs.
        """
        loss, latent = self.objective.loss(x, y, mask, self._step)
        weight = self.config.training.neighbour_weight
        if weight > 0:
            heads, tails = latent.float().chunk(2)  # the sampler's neighbour pairs
            loss = loss + weight * neighbour_loss(heads, tails, exaggeration=exaggeration)
        return loss

    @property
    def steps_done(self) -> int:
        """The optimisation steps taken so far (0 while the input is prepared)."""
        return self._step

    def stop(self) -> None:
        """Ask :meth:`run` to stop after the current step (thread-safe)."""
        self._stop = True

    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding a :class:`TrainingEvent` after every step.

        After each epoch's last step a second event carries the epoch's mean
        loss and the validation loss. Stops after ``epochs`` epochs, when
        ``time_budget`` seconds are used, after ``patience`` epochs without a
        better validation loss, or when :meth:`stop` is called; the weights
        with the best validation loss are kept for :meth:`result` (with the
        neighbour term, the last weights: see :meth:`_record`). Zero-shot
        super-resolution of a small image takes no step (:meth:`_chooses_only`),
        nor does the prior on clipped Gaussian noise or on an image too small
        to hold out validation data (:attr:`_kept_prior_reason`). A :meth:`stop`
        during the preparation ends it within a second or two, with no event
        and no model: the training is :attr:`cancelled`.
        """
        training = self.config.training
        try:
            with stoppable(lambda: self._stop):
                self.prepare()
        except Cancelled:
            self.cancelled = True
            return
        self._start = time.perf_counter()
        self._step, epoch, stale = 0, 0, 0
        kept_prior = self._kept_prior_reason
        if kept_prior is not None:
            warnings.warn(kept_prior, stacklevel=2)
        for message in self.calibration.messages(self.config):
            warnings.warn(message, stacklevel=2)
        if self._chooses_only or kept_prior is not None:  # no step: one record of the start kept
            elapsed = time.perf_counter() - self._start
            event = TrainingEvent(0, 1, self.best_loss, elapsed, 0.0, 1.0, val_loss=self.best_loss)
            self._record(event, stale)
            yield event
            return
        while not self._stop:
            losses = yield from self._train_epoch()
            if not losses:
                break
            epoch += 1
            event = TrainingEvent(
                step=self._step,
                epoch=epoch,
                loss=float(np.mean(losses)),
                elapsed=time.perf_counter() - self._start,
                learning_rate=self.optimizer.param_groups[0]["lr"],
                fraction=min(self._fraction(), 1.0),
                val_loss=self._validate(),
            )
            stale = self._record(event, stale)
            yield event
            if epoch >= training.epochs or stale >= training.patience:
                break
        if self._prior_check is not None:
            self._keep_prior_if_worse()
        if self._frames is not None and self.best_state is not None:
            self.density = self._fit_density()

    def _keep_prior_if_worse(self) -> None:
        """Give the prior back where it denoises the input's neighbouring pixels better (:class:`.fine_tuning.PriorCheck`)."""
        check = self._prior_check
        if self.best_state is check.state:  # no step beat the prior
            return
        message = check.verdict(self.network, self.best_state, self.calibration.channel_weights)
        if message is not None:
            self.best_state, self.best_loss, self.best_epoch = check.state, check.loss, None
            warnings.warn(message, stacklevel=3)

    def warning(self) -> str | None:
        """A sentence when the best validation loss is not below the input's own, else None.

        Then the result is likely no better than the input (noisy, or
        bicubic): the training was too short, or the data do not suit the
        task or mode.
        """
        if self.input_loss is None or not math.isfinite(self.best_loss):
            return None
        if self.best_loss < self.input_loss:
            return None
        if self.start == BICUBIC and self.best_epoch is None:
            return self._bicubic_kept()
        superres = self.config.training.task == Task.SUPERRES.value
        baseline = BICUBIC if superres else "the input"
        return (
            f"the best validation loss ({self.best_loss:.4g}) is not below that of {baseline} "
            f"({self.input_loss:.4g}): the result may be no better than {baseline}; train longer "
            "(a larger time budget) or check the task and mode."
        )

    def kept(self) -> str:
        """What :meth:`result` holds: ``"epoch 3"``, or the :attr:`start` no epoch beat; or nothing."""
        if self.cancelled:
            return "nothing"
        return self.start if self.best_epoch is None else f"epoch {self.best_epoch}"

    def outcome(self) -> str:
        """The weights kept and their loss, e.g. ``"kept epoch 3 (validation loss 0.0123)"``."""
        if self.cancelled:
            return "cancelled while it prepared: no model"
        beaten = "" if self.best_epoch is not None else ", which no epoch beat"
        return f"kept {self.kept()} (validation loss {self.best_loss:.4g}){beaten}"

    def _bicubic_kept(self) -> str:
        """The warning for an upscaler kept as bicubic interpolation: no epoch validated better."""
        epochs = [entry["val_loss"] for entry in self.history]
        trained = epochs and self._step > 0  # not the start's own record (a choice, no step)
        against = f" against the best epoch's {min(epochs):.4g}" if trained else ""
        if self.config.training.mode == Mode.ZERO_SHOT.value:
            advice = (
                "zero-shot learns only from the image's own copy, downscaled once more: a larger "
                "image gives it more to learn from, or train from-highres on high-resolution "
                "images like this one"
            )
        else:
            advice = "train longer (a larger time budget), or on more high-resolution images"
        return (
            f"no epoch validated better than {BICUBIC} (validation loss {self.input_loss:.4g}"
            f"{against}), so the model saved upscales by bicubic interpolation; {advice}."
        )

    def _fits_density(self, x: np.ndarray) -> bool:
        """Whether the training ends by fitting a latent density: a VAE or AAE on whole frames."""
        size = self.config.data.patch_size
        generative = self.config.training.task in (Task.VAE.value, Task.AAE.value)
        in_memory = isinstance(x, np.ndarray)
        return generative and in_memory and x.shape[-2:] == (size, size)

    @torch.no_grad()
    def _fit_density(self) -> LatentDensity:
        """The density of the codes of the training frames under the best weights."""
        network = self.result().network  # the best weights, on the CPU, a copy of their own
        codes = [
            latent_of(network, torch.from_numpy(batch)).float().numpy()
            for batch in np.array_split(self._frames, max(1, len(self._frames) // 256))
        ]
        return LatentDensity.fit(np.concatenate(codes), seed=self.config.training.seed)

    def _fraction(self) -> float:
        """Share of the planned steps, or of the time budget, used so far."""
        training = self.config.training
        fraction = self._step / (training.epochs * training.steps_per_epoch)
        if training.time_budget is not None:
            elapsed = time.perf_counter() - self._start
            fraction = max(fraction, elapsed / training.time_budget)
        return fraction

    def _train_epoch(self) -> Iterator[TrainingEvent]:
        """Run up to ``steps_per_epoch`` steps; return their losses."""
        self.network.train()
        losses: list[float] = []
        for _ in range(self.config.training.steps_per_epoch):
            fraction = self._fraction()
            if fraction >= 1 or self._stop:
                break
            lr = self._set_learning_rate(fraction)
            x, y, mask = self.objective.batch(*self.sampler.sample(), self.generator)
            exaggeration = exaggeration_at(fraction) if self._neighbour_term else 1.0
            loss = self._loss(x, y, mask, exaggeration)
            value = loss.item()
            _check_loss(value, "training", self._step + 1, self.config)  # before any update
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.anchor is not None:
                pull_to_prior(self.network, self.anchor, lr)
            if self.regularizer is not None:
                self.regularizer.step(x, lr)
            losses.append(value)
            self._step += 1
            elapsed = time.perf_counter() - self._start
            done = min(self._fraction(), 1.0)  # after the step, as elapsed: the time left follows
            yield TrainingEvent(self._step, len(self.history), losses[-1], elapsed, lr, done)
        return losses

    def _set_learning_rate(self, fraction: float) -> float:
        """Cosine decay from the initial rate to 1 % of it."""
        base = self.config.training.learning_rate
        lr = base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0))))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    @torch.no_grad()
    def _validate(self) -> float:
        self.network.eval()
        loss = float(np.mean([self._loss(*batch).item() for batch in self.validation]))
        _check_loss(loss, "validation", self._step, self.config)
        return loss

    def _record(self, event: TrainingEvent, stale: int) -> int:
        """Append to the history, keep the best weights; return epochs without progress.

        With the neighbour term every epoch's weights replace the last ones,
        whatever their validation loss, and there is no early stop: the
        codes kept grouping the data better after the validation loss had
        stopped falling (held-out MNIST digits, 22 trainings of a 10-D
        latent: the last weights' k-means NMI 0.009 above the best-validation
        ones' on average, below in 2, by 0.003 at most; up to 0.036 where
        early stopping would have ended the training at 75 % of its steps),
        and the early exaggeration of the term raises that loss on purpose.
        """
        self.history.append(
            {
                "epoch": event.epoch,
                "step": event.step,
                "loss": event.loss,
                "val_loss": event.val_loss,
                "elapsed": event.elapsed,
                "learning_rate": event.learning_rate,
            }
        )
        if event.val_loss < self.best_loss or self._neighbour_term:
            self.best_loss, self.best_epoch = event.val_loss, event.epoch
            self.best_state = copy.deepcopy(self.network.state_dict())
            return 0
        return stale + 1

    def result(self) -> TrainedModel:
        """Return the model with the best weights seen so far, on the CPU.

        Before any training that is the untrained network (or the prior, or
        the upscaler that training starts from); a RuntimeError once
        :attr:`cancelled`.
        """
        self.prepare()
        network = copy.deepcopy(self.network)
        if self.best_state is not None:
            network.load_state_dict(self.best_state)
        return TrainedModel(
            config=copy.deepcopy(self.config),
            network=network.cpu().eval(),
            input_norm=self.input_norm,
            target_norm=self.target_norm,
            history=list(self.history),
            density=self.density,
        )


def _check_loss(loss: float, kind: str, step: int, config: Config) -> None:
    """Raise ``FloatingPointError`` if ``loss`` is NaN or infinite."""
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the {kind} loss became {loss} at step {step}: the training diverged. Lower the "
            f"learning rate (it was {config.training.learning_rate:.3g}), or check the data "
            "for extreme values; the best weights so far are kept."
        )


def import_optimizer_support() -> None:
    """Import ``torch._dynamo``, which a process's first optimiser imports (about a second).

    A GUI calls this while it opens: imported later, in a training thread,
    the import holds the GIL for stretches of a fifth of a second and
    freezes the event loop during the first training.
    """
    import torch._dynamo  # noqa: F401


def fit(
    config: Config,
    inputs: np.ndarray,
    targets: np.ndarray | None = None,
    *,
    callback: Callable[[TrainingEvent], bool | None] | None = None,
) -> TrainedModel:
    """Train to completion and return the best model.

    ``callback`` is called with every :class:`TrainingEvent`; returning
    ``False`` stops the training early (the best model so far is returned).
    What :meth:`Trainer.warning` finds (a result no better than its input)
    is a warning, as in the command line and the widget. A training that
    diverges returns its best validated model with a warning, and raises
    ``FloatingPointError`` only when none was validated.
    """
    trainer = Trainer(config, inputs, targets)
    try:
        for event in trainer.run():
            if callback is not None and callback(event) is False:
                trainer.stop()
    except FloatingPointError as err:
        if not trainer.history:
            raise FloatingPointError(f"{err} But none were validated.") from err
        warnings.warn(str(err), stacklevel=2)
        return trainer.result()
    if warning := trainer.warning():
        warnings.warn(warning, stacklevel=2)
    return trainer.result()
