"""How close a generator's samples are to held-out data: the numbers a GAN run is judged and stopped on.

`d_loss`/`g_loss` say who is winning the game, not whether the samples look like the data, so every
epoch also measures the distance between generated samples and the validation split:

- `val_mmd`: the (biased, never negative) kernel MMD² with a Gaussian kernel whose bandwidth is the
  median pairwise distance of the validation data, fixed once, so epochs and runs compare on one scale;
- `val_w1`: the 1-Wasserstein distance of each feature's marginal, averaged over features;
- `sample_diversity`: the samples' mean pairwise distance over the data's (≈ 1 when matched; far below
  1 when the generator collapsed onto a few modes).

All three are computed in a fixed feature space: for tabular and sequence data the flattened values
standardised with the validation data's mean and std; for images the outputs of a small convolutional
encoder with fixed-seed random weights (deterministic and cheap, nothing to download; random conv
features are a known, sufficient basis for a two-sample test on small images).
"""

from __future__ import annotations

import torch
from torch import nn

MAX_REFERENCE = 1000  # the kernel is O(n²): a fixed subset of the validation split is plenty
ENCODER_SEED = 0
ENCODE_CHUNK = 64


def image_encoder(channels: int) -> nn.Module:
    """The fixed feature map for images: same weights in every process (seeded), eval mode, no grads."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ENCODER_SEED)
        net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
    return net.eval().requires_grad_(False)


class Quality:
    """Distances from samples to one fixed reference set (the validation split, in data units)."""

    def __init__(self, reference: torch.Tensor, image: bool) -> None:
        reference = reference[:MAX_REFERENCE].detach().float().cpu()
        self.image = image
        self.encoder = image_encoder(reference.shape[1]) if image else None
        flat = reference.flatten(1)
        # Images go to [-1, 1] with the reference's own range before the fixed encoder; fixed once.
        self.low, self.high = float(flat.min()), float(flat.max())
        raw = self._raw(reference)
        self.mean = raw.mean(dim=0)
        std = raw.std(dim=0)
        self.std = torch.where(std > 1e-6, std, torch.ones_like(std))
        self.reference = self._standard(raw)
        self.n = len(self.reference)
        distances = torch.cdist(self.reference, self.reference)
        off_diagonal = distances[~torch.eye(self.n, dtype=torch.bool)]
        self.bandwidth = float(off_diagonal.median()) if off_diagonal.numel() else 1.0
        self.bandwidth = self.bandwidth if self.bandwidth > 1e-6 else 1.0
        self.reference_spread = float(off_diagonal.mean()) if off_diagonal.numel() else 0.0
        self.k_rr = self._kernel(self.reference, self.reference).mean()
        self.sorted_reference = self.reference.sort(dim=0).values

    @torch.no_grad()
    def _raw(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().float().cpu()
        if self.encoder is None:
            return x.flatten(1)
        scaled = (x - self.low) / max(self.high - self.low, 1e-6) * 2 - 1
        # In chunks: a thousand large images through the first conv at once would take gigabytes.
        return torch.cat([self.encoder(chunk) for chunk in scaled.split(ENCODE_CHUNK)])

    def _standard(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw - self.mean) / self.std

    def _kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).square() / (2 * self.bandwidth**2))

    @torch.no_grad()
    def measure(self, samples: torch.Tensor, prefix: str = "val_") -> dict[str, float]:
        """`samples` in data units, as many as `self.n` (so the W1 of sorted marginals is exact)."""
        x = self._standard(self._raw(samples))
        if not bool(torch.isfinite(x).all()):
            return {f"{prefix}mmd": float("inf"), f"{prefix}w1": float("inf"), "sample_diversity": 0.0}
        mmd = self.k_rr + self._kernel(x, x).mean() - 2 * self._kernel(x, self.reference).mean()
        w1 = (x.sort(dim=0).values - self.sorted_reference).abs().mean()
        pairwise = torch.cdist(x, x)
        spread = pairwise.sum() / max(len(x) * (len(x) - 1), 1)
        diversity = float(spread) / self.reference_spread if self.reference_spread > 0 else 1.0
        return {f"{prefix}mmd": max(float(mmd), 0.0), f"{prefix}w1": float(w1), "sample_diversity": diversity}
