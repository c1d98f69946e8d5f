"""Networks: a U-Net for restoration, autoencoders with a flat latent, VAEs,
the adversarial autoencoder, and an upscaling network for super-resolution.

All take and return batches (B, C, Y, X) on the normalised intensity scale
(the upscaler returns Y and X ``factor`` times larger); a U-Net with
``spatial_dims`` 3 takes and returns volumes (B, C, Z, Y, X).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Architecture, ModelConfig, ReconstructionLoss
from ..data.stabilization import NoiseModel, gat, inverse_gat, thinned_noise
from .losses import channel_mse, reparameterize


def opponent_matrix() -> torch.Tensor:
    """The (3, 3) map from RGB to opponent colours, orthonormal so that white noise stays white.

    Rows: brightness, red minus blue, green against red and blue (the
    colour transform of CBM3D), each of unit length.
    """
    matrix = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]])
    return matrix / matrix.norm(dim=1, keepdim=True)


def build_model(config: ModelConfig) -> nn.Module:
    """Return the untrained network that ``config`` describes."""
    config.validate()
    return NETWORKS[config.architecture](config)


def layer_kinds(dims: int) -> tuple:
    """Convolution, transposed convolution and max pooling of planes (``dims`` 2) or volumes (3)."""
    if dims == 3:
        return nn.Conv3d, nn.ConvTranspose3d, F.max_pool3d
    return nn.Conv2d, nn.ConvTranspose2d, F.max_pool2d


def conv_block(in_channels: int, out_channels: int, dims: int = 2) -> nn.Sequential:
    """Two 3x3 (3x3x3 for ``dims`` 3) convolutions, each followed by a leaky ReLU."""
    conv = layer_kinds(dims)[0]
    return nn.Sequential(
        conv(in_channels, out_channels, 3, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
        conv(out_channels, out_channels, 3, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
    )


def pad_to_multiple(
    x: torch.Tensor, multiple: int, dims: int = 2
) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Pad the last ``dims`` axes of ``x`` at the far end up to a multiple of ``multiple``.

    ``x`` is (B, C, Y, X), or (B, C, Z, Y, X) with ``dims`` 3; returns the
    padded tensor and the original sizes of those axes. Reflection padding
    avoids the dark border that zero padding would teach; a side shorter
    than the padding falls back to edge replication.
    """
    sizes = tuple(x.shape[-dims:])
    pads = [-size % multiple for size in sizes]
    if any(pads):
        mode = "reflect" if all(pad < size for pad, size in zip(pads, sizes)) else "replicate"
        # F.pad lists (before, after) pairs from the last axis backwards
        x = F.pad(x, [value for pad in reversed(pads) for value in (0, pad)], mode=mode)
    return x, sizes


def check_input_size(x: torch.Tensor, size: int) -> None:
    """Raise ``ValueError`` unless ``x`` (B, C, Y, X) is ``size`` x ``size``."""
    if tuple(x.shape[-2:]) != (size, size):
        raise ValueError(
            f"this autoencoder takes {size}x{size} images, got "
            f"{x.shape[-2]}x{x.shape[-1]}; tile or crop the image to that size."
        )


class UNet(nn.Module):
    """U-Net with ``depth`` levels of max pooling and skip connections.

    Any input size works: inputs are padded to a multiple of ``2**depth`` and
    the output is cropped back. With ``residual`` the network predicts a
    correction that is added to its input. With ``spatial_dims`` 3 every
    layer is 3D and pooling halves Z as well as Y and X: the receptive field
    then spans as many planes as pixels, which is what lets the network use
    structures that cross several planes (anisotropic (1, 2, 2) pooling
    would keep it a few planes deep).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.stabilized = config.noise_gain > 0 or config.noise_variance > 0
        dims = config.spatial_dims
        conv, transposed, self._pool = layer_kinds(dims)
        widths = [config.width * 2**level for level in range(config.depth + 1)]
        self.down = nn.ModuleList()
        # a stabilised U-Net denoises one channel at a time, as the pretrained prior does
        channels = 1 if self.stabilized else config.in_channels
        for width in widths[:-1]:
            self.down.append(conv_block(channels, width, dims))
            channels = width
        self.bottom = conv_block(channels, widths[-1], dims)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(transposed(width * 2, width, 2, stride=2))
            self.merge.append(conv_block(width * 2, width, dims))
        self.head = conv(widths[0], 1 if self.stabilized else config.out_channels, 1)
        if config.opponent_colours:  # moves with the network; not a weight
            self.register_buffer("opponent", opponent_matrix(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, C_in, Y, X) to (B, C_out, Y, X); in 3D, (B, C_in, Z, Y, X) to (B, C_out, Z, Y, X)."""
        if not self.stabilized:
            return self.restore(x)
        noisy = self._colours(x)
        denoised = self._denoise_noisy(noisy, self.config.noise_gain, self.config.noise_variance)
        return self._colours(denoised, back=True)

    def _colours(self, x: torch.Tensor, *, back: bool = False) -> torch.Tensor:
        """RGB (B, 3, Y, X) as opponent colours (``back``: the inverse) with ``opponent_colours``, else ``x``."""
        if not self.config.opponent_colours:
            return x
        matrix = self.opponent.T if back else self.opponent
        return torch.einsum("dc,bcyx->bdyx", matrix.to(x.dtype), x)

    def _denoise_noisy(self, x: torch.Tensor, gain: float, variance: float) -> torch.Tensor:
        """Denoise (B, C, Y, X) whose noise has variance ``gain * x + variance``, channel by channel."""
        size_b, channels, height, width = x.shape
        flat = x.reshape(size_b * channels, 1, height, width)
        stable = self.denoise_stable(gat(flat, gain, variance), 1.0)
        return inverse_gat(stable, gain, variance).reshape(x.shape)

    def denoise_stable(self, z: torch.Tensor, sigma: float, working_sigma: float = 0.1) -> torch.Tensor:
        """Denoise (B, 1, Y, X) values whose noise is Gaussian of standard deviation ``sigma``.

        Each image is centred and scaled so that its noise has the standard
        deviation ``working_sigma`` the pretrained prior learnt (its
        ``PRIOR_SIGMA``): denoising commutes with scaling, so one network
        serves every noise level.
        """
        mean = z.mean(dim=(-2, -1), keepdim=True)
        scale = working_sigma / sigma
        return self.restore((z - mean) * scale) / scale + mean

    def recorrupted_loss(
        self, x: torch.Tensor, noise: torch.Tensor, alpha: float, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Self-supervised loss of a stabilised U-Net on noisy images ``x`` (B, C, Y, X).

        Recorrupted-to-recorrupted: in the stabilised domain, where the noise
        is Gaussian of variance 1, the pair ``z + alpha * n`` and
        ``z - n / alpha`` (``n`` is ``noise``, standard normal, shaped like
        ``x``) have independent noise, so the mean squared error of denoising
        one into the other is, up to a constant, the supervised error at the
        noise level ``sqrt(1 + alpha**2)``. ``weights`` (C,) weight the
        channels' errors (:func:`.losses.channel_mse`), taken back from
        opponent colours to the input's channels.
        """
        size_b, channels, height, width = x.shape
        # orthonormal: the opponent colours' noise is the channels' own, and so is the error
        flat = self._colours(x).reshape(size_b * channels, 1, height, width)
        n = noise.reshape(flat.shape)
        z = gat(flat, self.config.noise_gain, self.config.noise_variance)
        prediction = self.denoise_stable(z + alpha * n, (1 + alpha**2) ** 0.5).reshape(x.shape)
        target = (z - n / alpha).reshape(x.shape)
        return channel_mse(self._colours(prediction, back=True), self._colours(target, back=True), weights)

    def thinned_loss(
        self, part: torch.Tensor, rest: torch.Tensor, fraction: float, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Self-supervised loss of a stabilised U-Net on thinned pairs (B, C, Y, X).

        ``part`` and ``rest`` are the two images into which binomial
        thinning (:func:`.data.stabilization.thin`) split the noisy data,
        ``part`` with ``fraction`` of its photons: their noises are
        independent and both are unbiased, so the mean squared error of
        denoising ``part`` into ``rest``, on the intensity scale, is up to a
        constant the supervised error at ``1 / fraction`` times the noise
        variance (Noise2Noise). ``weights`` (C,) weight the channels' errors
        (:func:`.losses.channel_mse`).
        """
        noise = thinned_noise(NoiseModel(self.config.noise_gain, self.config.noise_variance), fraction)
        return channel_mse(self._denoise_noisy(part, noise.gain, noise.read_variance), rest, weights)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """The plain U-Net: map (B, C, [Z,] Y, X) to (B, C_out, [Z,] Y, X)."""
        dims = self.config.spatial_dims
        padded, sizes = pad_to_multiple(x, 2**self.config.depth, dims)
        skips = []
        h = padded
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = self._pool(h, 2)
        h = self.bottom(h)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            h = merge(torch.cat([up(h), skip], dim=1))
        out = self.head(h)[(..., *(slice(size) for size in sizes))]
        return out + x if self.config.residual else out


class ConvAutoencoder(nn.Module):
    """Convolutional encoder, dense bottleneck of ``latent_dim``, mirrored decoder.

    Built for square inputs of side ``input_size`` (padded internally to a
    multiple of ``2**depth``), as in the classic MNIST autoencoder; the latent
    can be as small as 2 for plotting.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        side = -(-config.input_size // 2**config.depth)  # ceil division
        widths = [config.width * 2**level for level in range(config.depth)]
        layers: list[nn.Module] = []
        channels = config.in_channels
        for width in widths:
            layers += [
                nn.Conv2d(channels, width, 3, padding=1),
                nn.LeakyReLU(0.1, inplace=True),
                nn.Conv2d(width, width, 3, stride=2, padding=1),
                nn.LeakyReLU(0.1, inplace=True),
            ]
            channels = width
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.bottleneck_shape = (channels, side, side)
        flat = channels * side * side
        self.to_latent = nn.Linear(flat, config.latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(config.latent_dim, flat), nn.LeakyReLU(0.1))
        layers = []
        for width in reversed(widths):
            layers += [
                nn.ConvTranspose2d(channels, width, 2, stride=2),
                nn.LeakyReLU(0.1, inplace=True),
                nn.Conv2d(width, width, 3, padding=1, padding_mode=config.padding),
                nn.LeakyReLU(0.1, inplace=True),
            ]
            channels = width
        self.decoder = nn.Sequential(*layers, nn.Conv2d(channels, config.out_channels, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (B, C, S, S) to flat encoder features (B, F)."""
        check_input_size(x, self.config.input_size)
        padded, _ = pad_to_multiple(x, 2**self.config.depth)
        return self.encoder(padded)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (B, C, S, S) to latent vectors (B, latent_dim)."""
        return self.to_latent(self.features(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent vectors (B, latent_dim) to images (B, C_out, S, S)."""
        h = self.from_latent(z).view(-1, *self.bottleneck_shape)
        size = self.config.input_size
        return self.decoder(h)[..., :size, :size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct (B, C, S, S) through the latent bottleneck."""
        return self.decode(self.encode(x))


class LikelihoodDecoder:
    """A decoder whose raw output parametrises the likelihood of the reconstruction loss.

    The network provides ``decode_logits(z)``, the raw decoder output
    (B, C, S, S): logits for the ``"bce"`` reconstruction loss, the mean for
    ``"mse"``. The losses take the raw output (binary cross-entropy on
    logits never takes the log of 0); :meth:`decode` gives images.
    """

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent vectors (B, D) to images (B, C, S, S) on the normalised scale."""
        logits = self.decode_logits(z)
        bce = self.config.reconstruction_loss == ReconstructionLoss.BCE.value
        return torch.sigmoid(logits) if bce else logits


class Variational(LikelihoodDecoder):
    """Gaussian posterior and decoder likelihood, mixed into a network with a flat latent.

    The network provides ``features(x)`` (B, F), the mean head ``to_latent``,
    the log-variance head ``to_logvar`` and ``decode_logits(z)`` (see
    :class:`LikelihoodDecoder`). Calling the network reconstructs through
    the posterior mean, so prediction treats a VAE like any model.
    """

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map images (B, C, S, S) to the posterior mean and log-variance, each (B, D)."""
        features = self.features(x)
        return self.to_latent(features), self.to_logvar(features)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean (B, D) of images (B, C, S, S)."""
        return self.encode_distribution(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct (B, C, S, S) through the posterior mean."""
        return self.decode(self.encode(x))

    def variational(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, draw a reparameterised ``z`` and decode: (raw output, mu, logvar).

        This is what the loss (:func:`.losses.negative_elbo`) takes.
        """
        mu, logvar = self.encode_distribution(x)
        return self.decode_logits(reparameterize(mu, logvar, generator)), mu, logvar


class ConvVAE(Variational, ConvAutoencoder):
    """The convolutional autoencoder turned variational.

    Same encoder, decoder and dense layers as :class:`ConvAutoencoder`; its
    latent layer becomes the mean head, beside a log-variance head.
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.to_logvar = nn.Linear(self.to_latent.in_features, config.latent_dim)

    decode_logits = ConvAutoencoder.decode


class AdversarialAutoencoder(LikelihoodDecoder, ConvAutoencoder):
    """The convolutional autoencoder of an adversarial autoencoder (task ``"aae"``).

    Same layers as :class:`ConvAutoencoder`, a deterministic encoder, and
    the decoder likelihood of the VAEs. The discriminator that pushes the
    codes toward the prior is not part of it: it only serves the training
    (:mod:`.adversarial`), and a trained model needs the encoder, the
    decoder and the prior alone.
    """

    decode_logits = ConvAutoencoder.decode

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The weights of the encoder, images to codes: what the regularisation phase trains."""
        return [*self.encoder.parameters(), *self.to_latent.parameters()]


class DenseVAE(Variational, nn.Module):
    """Fully connected VAE for tiny images: pixels, ``hidden_dim`` units, latent, and back.

    With 28x28 images and ``hidden_dim`` 512 it is the textbook
    784-512-latent MNIST VAE.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.image_shape = (config.in_channels, config.input_size, config.input_size)
        pixels = config.in_channels * config.input_size**2
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, config.hidden_dim), nn.ReLU(inplace=True)
        )
        self.to_latent = nn.Linear(config.hidden_dim, config.latent_dim)
        self.to_logvar = nn.Linear(config.hidden_dim, config.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden_dim, config.out_channels * config.input_size**2),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (B, C, S, S) to hidden features (B, hidden_dim)."""
        check_input_size(x, self.config.input_size)
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Raw decoder output (B, C, S, S) of latent vectors (B, D)."""
        size = self.config.input_size
        return self.decoder(z).view(-1, self.config.out_channels, size, size)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a ReLU between them, added to the input (EDSR style)."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, W, Y, X) to (B, W, Y, X)."""
        return x + self.body(x)


class SuperResolutionNet(nn.Module):
    """Upscale by ``factor``: bicubic interpolation plus a learned correction.

    A small EDSR/ESPCN-like body of ``blocks`` residual blocks of ``width``
    feature maps works at the input resolution (cheap); a 3x3 convolution
    makes ``factor**2`` sub-pixel values per channel, which a pixel shuffle
    arranges on the fine grid. The result is added to the bicubic
    upsampling of the input, so the network only learns the detail that
    interpolation misses. The last convolution starts at zero: an untrained
    network is exactly bicubic interpolation. With ``config.channelwise``
    it upscales one channel at a time, as the single-channel shipped priors
    do (:mod:`..prior`).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        width, factor = config.width, config.factor
        channels = 1 if config.channelwise else config.in_channels
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(width) for _ in range(config.blocks)))
        self.tail = nn.Conv2d(width, channels * factor**2, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        self.shuffle = nn.PixelShuffle(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, C_in, Y, X) to (B, C_out, Y * factor, X * factor)."""
        if self.config.channelwise and x.shape[1] > 1:
            size_b, channels, height, width = x.shape
            flat = self.upscale(x.reshape(size_b * channels, 1, height, width))
            return flat.reshape(size_b, channels, *flat.shape[-2:])
        return self.upscale(x)

    def upscale(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, C, Y, X) to (B, C, Y * factor, X * factor), C the network's channels."""
        features = self.head(x)
        detail = self.shuffle(self.tail(features + self.body(features)))
        factor = self.config.factor
        return detail + F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False)


class Phased(nn.Module):
    """``network`` applied to the interleaved phases of planes (B, C, Y, X), interleaved back.

    Phase ``(p, q)`` of ``strides`` (sy, sx) holds pixels ``[p::sy, q::sx]``
    (:mod:`..data.correlation`); the phases go through ``network`` as one
    batch. Y and X must be multiples of the strides. A model of noise
    correlated along rows or columns (``noise_strides``) denoises so; our
    own prediction splits arrays instead (it tiles and pads them), and a
    bioimage.io package holds its network so wrapped.
    """

    def __init__(self, network: nn.Module, strides: tuple[int, int]):
        super().__init__()
        self.network = network
        self.strides = (int(strides[0]), int(strides[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, C, Y, X) to the network's output on its phases, (B, C_out, Y, X)."""
        rows, columns = self.strides
        phases = [x[..., p::rows, q::columns] for p in range(rows) for q in range(columns)]
        out = self.network(torch.cat(phases, dim=0)).chunk(rows * columns, dim=0)
        # (B, C, Y / sy, X / sx, sx) -> X interleaved, then (B, C, Y / sy, sy, X) -> Y interleaved
        lines = [torch.stack(out[p * columns : (p + 1) * columns], dim=-1).flatten(-2) for p in range(rows)]
        return torch.stack(lines, dim=-2).flatten(-3, -2)


def phased(network: nn.Module, strides) -> nn.Module:
    """``network`` wrapped in :class:`Phased` for ``strides`` (Y, X); itself for (1, 1)."""
    strides = (int(strides[0]), int(strides[1]))
    return network if strides == (1, 1) else Phased(network, strides)


#: The network class of each architecture.
NETWORKS: dict[str, type[nn.Module]] = {
    Architecture.SUPERRES.value: SuperResolutionNet,
    Architecture.UNET.value: UNet,
    Architecture.AUTOENCODER.value: ConvAutoencoder,
    Architecture.VAE.value: ConvVAE,
    Architecture.VAE_DENSE.value: DenseVAE,
    Architecture.AAE.value: AdversarialAutoencoder,
}
