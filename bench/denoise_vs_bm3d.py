"""Issue 2 headline: self-supervised denoising (120 s) against BM3D given the true sigma, 512x512 phantom."""
import sys, time
sys.path.insert(0, "bench")
import bm3d
from denoise import cases, train_and_denoise, _scores
from napari_autoencoders.core.data.noise import add_noise, noise_sigma
name, clean, _, spec = cases(512)[0]
noisy = add_noise(clean, spec, seed=1)
sigma = noise_sigma(clean, spec)
print("noisy", _scores(clean, noisy), flush=True)
t = time.perf_counter(); out = bm3d.bm3d(noisy, sigma_psd=sigma); print("BM3D (true sigma %.4f)" % sigma, _scores(clean, out), "%.0f s" % (time.perf_counter() - t), flush=True)
t = time.perf_counter(); out = train_and_denoise("self-supervised", noisy, None, spec, 120.0); print("self-supervised 120 s", _scores(clean, out), "%.0f s" % (time.perf_counter() - t), flush=True)
