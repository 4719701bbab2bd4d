"""A small ResNet for grayscale images, split into a trunk (features) and a head.

He et al. (2016) residual blocks: a 3x3 stem, one stage per width (two 3x3 convolutions with
batch norm and a shortcut; each stage after the first halves the resolution), global
average pooling and a linear head. :meth:`SmallResNet.features` returns the output of the
stem and of every stage, the representations the similarity penalty compares.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.neuroreg.errors import NeuroregError

#: Pixel values enter in [0, 1]; the network sees ``(x - PIXEL_MEAN) / PIXEL_SD``.
PIXEL_MEAN = 0.5
PIXEL_SD = 0.25


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a (projected when needed) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet of a few stages for ``(B, 1, H, W)`` images with values in [0, 1].

    Parameters
    ----------
    n_classes
        Number of classes.
    widths
        Channels of each stage (one basic block per stage).
    strides
        Stride of each stage's first convolution (2 halves the resolution); None halves it
        in every stage after the first.
    """

    def __init__(
        self,
        n_classes: int,
        widths: Sequence[int] = (16, 32, 64),
        strides: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if n_classes < 2:
            raise NeuroregError(f"a classifier needs at least 2 classes, got {n_classes}")
        if not widths or min(widths) < 1:
            raise NeuroregError(f"widths must be positive channel counts, got {tuple(widths)}")
        strides = [1] + [2] * (len(widths) - 1) if strides is None else list(strides)
        if len(strides) != len(widths) or min(strides) < 1:
            raise NeuroregError(
                f"strides {tuple(strides)} must be one positive integer per stage "
                f"({len(widths)} stages)"
            )
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        stages = []
        previous = widths[0]
        for width, stride in zip(widths, strides, strict=True):
            stages.append(BasicBlock(previous, width, stride))
            previous = width
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(previous, n_classes)

    @property
    def n_representations(self) -> int:
        """Number of tensors :meth:`features` returns (the stem and every stage)."""
        return 1 + len(self.stages)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Run the trunk.

        Parameters
        ----------
        images
            ``(B, 1, H, W)`` pixels in [0, 1].

        Returns
        -------
        list of torch.Tensor
            The stem's output and each stage's, ``(B, C_l, H_l, W_l)``; the last feeds
            :meth:`head`.
        """
        if images.ndim != 4 or images.shape[1] != 1:
            raise NeuroregError(f"images must be (B, 1, H, W), got shape {tuple(images.shape)}")
        x = self.stem((images - PIXEL_MEAN) / PIXEL_SD)
        out = [x]
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def head(self, last: torch.Tensor) -> torch.Tensor:
        """Global average pooling and the linear classifier: ``(B, n_classes)`` logits."""
        return self.fc(last.mean(dim=(2, 3)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return ``(B, n_classes)`` logits of ``(B, 1, H, W)`` images in [0, 1]."""
        return self.head(self.features(images)[-1])
