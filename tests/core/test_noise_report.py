import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data

from napari_autoencoders.core.noise_report import noise_report


def test_the_report_holds_the_noise_model_hot_pixels_and_clipping_of_counts():
    rng = np.random.default_rng(0)
    clean = 0.1 + 0.8 * data.camera()[::2, ::2] / 255.0
    counts = (rng.poisson(30 * clean) * 5.0).astype(np.float32)
    counts[[20, 100, 200], [30, 60, 90]] = 5000.0
    report = noise_report(counts, "YX")
    span = np.subtract(*np.percentile(counts, [99.8, 1.0])) / 5.0  # in photons
    assert report.photons == pytest.approx(span, rel=0.2)
    assert report.defects == (3, 0)
    assert report.clip_levels == (None, None) and report.strides == (1, 1)
    assert report.low < report.high


def test_the_report_judges_defective_pixels_on_channels_rescaled_as_the_trainer_rescales_them():
    def unit(image):
        low, high = np.percentile(image, (1, 99.8))
        return np.clip((image - low) / (high - low), 0, 1)

    rng = np.random.default_rng(0)
    channels = [(data.moon(), 10), (data.immunohistochemistry()[..., 2], 300), (data.cell(), 3000)]
    image = np.stack(
        [rng.poisson(unit(c[:128, :128] / 255.0) * p) + rng.normal(0, 1, (128, 128)) for c, p in channels], -1
    ).astype(np.float32)
    assert noise_report(image, "YXC").defects == (0, 0)  # the channels' median model: 9 hot, 6 dead
    image[64, 64, 2] = 0.0  # a dead pixel of the bright channel
    assert noise_report(image, "YXC").defects == (0, 1)


def test_the_report_of_row_noise_measures_it_on_the_interleaved_columns():
    camera = data.camera().astype(np.float32)
    white = np.random.default_rng(1).normal(0.0, 10.0, camera.shape)
    noisy = camera + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)
    report = noise_report(np.stack([noisy, noisy[::-1]]), "SYX")
    assert report.strides == (1, 3) and report.correlation[1, 0] > 0.5
    assert report.read_sigma == pytest.approx(10.0, rel=0.15)  # the whole image's would read less
    assert not np.isfinite(report.photons)


def test_the_report_suggests_strides_where_neighbours_correlate_along_both_axes():
    camera = data.camera().astype(np.float32)
    kernel = np.array([0.5, 1.0, 0.5]) / 1.5**0.5
    white = np.random.default_rng(1).normal(0.0, 20.0, camera.shape)
    noisy = camera + ndi.convolve1d(ndi.convolve1d(white, kernel, axis=0), kernel, axis=1)
    lines = noise_report(noisy, "YX").lines()
    assert "so the denoiser takes the image whole" in lines
    assert lines[-1].endswith("noise strides 3,3 split it into sets where it does not")
    rows = noise_report(camera + ndi.convolve1d(white, kernel, axis=1), "YX").lines()
    assert rows[-1] == "  (noise strides 1,1 keep the image whole)"
    white_lines = noise_report(camera + white, "YX").lines()
    assert white_lines[-1] == "so the denoiser takes the image whole"


def test_the_report_gives_the_priors_check_of_the_noise_model():
    camera = data.camera().astype(np.float32)
    noisy = camera + np.random.default_rng(2).normal(0.0, 20.0, camera.shape).astype(np.float32)
    report = noise_report(noisy, "YX")
    assert report.check[0] == 1.0 and 0.8 < report.check[1] < 1.1
    assert any(line.endswith("so the denoiser takes the model as it is") for line in report.lines())
    gravel = data.gravel()[:256, :256].astype(np.float32)
    nearly_clean = gravel + np.random.default_rng(1).normal(0.0, 1.0, gravel.shape).astype(np.float32)
    report = noise_report(nearly_clean, "YX")
    factor, share = report.check
    assert share < 0.6 and factor < 1.0
    assert any("so the denoiser takes the noise as" in line for line in report.lines())


def test_the_report_of_clipped_noise_makes_no_check():
    eight_bit = np.clip(data.camera() + np.random.default_rng(0).normal(0.0, 25.0, (512, 512)), 0, 255)
    report = noise_report(np.round(eight_bit).astype(np.uint8), "YX")
    assert report.clip_levels != (None, None) and report.check is None
    assert "prior's check of the model: not made (clipped noise, interleaved sets, or no noise)" in report.lines()


def test_a_white_canvas_is_no_clip_level_and_the_model_is_checked():
    camera = data.camera()[::2, ::2].astype(np.float32)
    noisy = camera + np.random.default_rng(2).normal(0.0, 20.0, camera.shape).astype(np.float32)
    report = noise_report(np.pad(noisy, 48, constant_values=noisy.max()), "YX")
    assert report.clip_levels == (None, None) and report.check is not None
    assert report.high == pytest.approx(noise_report(noisy, "YX").high)


def test_the_report_checks_channels_of_different_brightness_as_the_trainer_does():
    from skimage import img_as_float32

    from napari_autoencoders.core.data.noise import add_noise
    from napari_autoencoders.core.recipes import task_config
    from napari_autoencoders.core.training import Trainer

    clean = img_as_float32(data.camera())[::2, ::2][:192, :192]
    counts = np.stack([add_noise(clean, f"poisson:{peak}+gaussian:{1 / peak}", seed=index) * peak
                       for index, peak in enumerate((30, 300))], -1).astype(np.float32)  # fmt: skip
    factor, share = noise_report(counts, "YXC").check
    assert factor == 1.0 and share > 0.7  # with the channels' median model: 0.48, scaled
    trainer = Trainer(task_config("denoise", shape=counts.shape, axes="YXC", time_budget=1.0), counts)
    trainer.prepare()
    assert trainer.calibration.noise_check is None


def test_the_report_checks_each_plane_of_a_stack_with_its_own_model():
    camera = data.camera()[::2, ::2].astype(np.float32)
    rng = np.random.default_rng(3)
    stack = np.stack([camera + rng.normal(0.0, sigma, camera.shape) for sigma in (25.0, 8.0, 50.0)])
    factor, share = noise_report(stack.astype(np.float32), "SYX").check
    assert factor == 1.0 and share > 0.6


def test_a_stack_of_clipped_frames_with_a_blank_one_is_measured():
    rng = np.random.default_rng(6)
    y, x = np.mgrid[:64, :64]
    noisy = np.clip((np.sin(x / 10) ** 2) * (y / 64) + rng.normal(0, 0.1, (64, 64)), 0, 1)
    stack = (np.stack([np.zeros_like(noisy), noisy]) * 255).round().astype(np.uint8)
    report = noise_report(stack, "TYX")  # the blank frame has no bins: it raised ZeroDivisionError
    assert report.clip_levels == (0, 255) and report.read_sigma > 0


def test_small_planes_and_nan_are_refused_as_the_trainer_refuses_them():
    noisy = np.random.default_rng(0).normal(100.0, 10.0, (10, 10)).astype(np.float32)
    with pytest.raises(ValueError, match="planes of 10x10 pixels are too small to measure their noise"):
        noise_report(noisy, "YX")  # reported as noiseless before
    image = np.random.default_rng(0).normal(100.0, 10.0, (64, 64)).astype(np.float32)
    image[3, 4] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite value"):
        noise_report(image, "YX")


def test_a_mask_is_measured():
    report = noise_report(data.camera()[:128, :128] > 120, "YX")  # a boolean percentile raised
    assert report.read_sigma == 0 and report.photons == np.inf


def test_each_channel_is_reported_in_its_own_units():
    rng = np.random.default_rng(0)
    clean = 0.1 + 0.8 * data.camera()[::2, ::2] / 255.0
    bright = rng.poisson(1000 * clean).astype(np.float32)  # 1 unit per photon
    dim = rng.poisson(10 * clean) * 50.0  # 50 units per photon
    lines = noise_report(np.stack([bright, dim], -1), "YXC").lines()
    assert lines[0] == "noise model of each channel, on its own scale:"
    assert lines[1:9] == [  # as each channel alone: one model in channel 0's units read 19 per photon
        *["  channel 0:", *["  " + line for line in noise_report(bright, "YX").lines()[1:4]]],
        *["  channel 1:", *["  " + line for line in noise_report(dim, "YX").lines()[1:4]]],
    ]
    assert 40 < float(lines[7].split("(")[1].split()[0]) < 60


def test_planes_too_small_to_split_are_reported_whole_as_the_trainer_takes_them():
    camera = data.camera()[:96, :96].astype(np.float32)
    white = np.random.default_rng(1).normal(0.0, 10.0, camera.shape)
    rows = camera + ndi.convolve1d(white, np.array([0.5, 1.0, 0.5]) / 1.5**0.5, axis=1)
    report = noise_report(rows, "YX")  # sets of 32 columns: narrower than the 64-pixel patch
    assert report.strides == (1, 1) and report.correlation[1, 0] > 0.5


def test_defective_pixels_of_a_stack_are_counted_over_its_planes():
    rng = np.random.default_rng(0)
    clean = 0.1 + 0.8 * data.camera()[::4, ::4] / 255.0
    frames = (rng.poisson(30 * np.stack([clean] * 4)) * 5.0).astype(np.float32)
    frames[:, [20, 100], [30, 60]] = 5000.0  # two hot camera pixels, in every frame
    report = noise_report(frames, "TYX")
    assert report.defects.hot == 8 and report.planes == 4
    assert "hot pixels: 8; dead pixels: 0 (summed over the 4 planes)" in report.lines()
