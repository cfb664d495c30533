"""nnInteractive's point encoding as their released code computes it, transcribed line by line from
MIC-DKFZ/nnInteractive at 154d9c6 (``nnInteractive/interaction/point.py``: ``build_point``, the default
torch path of ``PointInteraction_stub.place_point``; ``inference/inference_session.py``:
``_prepare_new_interaction_intensity`` and ``_normalize_interaction_channels_for_network_``).

This is the baseline of ``gtg bench guidance`` for :mod:`gtg_core.guidance.nninteractive` and what its test
compares with; it is not used to compute guidance. The package itself is not a dependency: it brings its own
torch and its inference stack (batchgeneratorsv2, blosc2). Kept as their code is (the scaled stamping, the
normalisation at the end), with scipy's EDT as they call it and skimage's ``ball`` and ``disk`` transcribed
from scikit-image 0.24 (``skimage/morphology/footprints.py``; scikit-image is not a dependency either).
"""

from __future__ import annotations

import numpy as np
import torch


def ball(radius, dtype=np.uint8):
    """scikit-image's ``ball(radius)`` (its default, non-decomposed path)."""
    n = 2 * radius + 1
    Z, Y, X = np.mgrid[-radius:radius:n * 1j, -radius:radius:n * 1j, -radius:radius:n * 1j]
    s = X ** 2 + Y ** 2 + Z ** 2
    return np.array(s <= radius * radius, dtype=dtype)


def disk(radius, dtype=np.uint8):
    """scikit-image's ``disk(radius)`` (its default path)."""
    L = np.arange(-radius, radius + 1)
    X, Y = np.meshgrid(L, L)
    return np.array((X ** 2 + Y ** 2) <= radius ** 2, dtype=dtype)


def build_point(radii, use_distance_transform, binarize):
    """Their ``build_point`` (without its ``lru_cache``)."""
    from scipy.ndimage import distance_transform_edt

    max_radius = max(radii)
    ndim = len(radii)
    if ndim == 2:
        structuring_element = disk(max_radius)
    elif ndim == 3:
        structuring_element = ball(max_radius)
    else:
        raise ValueError("Unsupported number of dimensions. Only 2D and 3D are supported.")
    structuring_element = torch.from_numpy(structuring_element.astype(np.float32))
    target_shape = [round(2 * r + 1) for r in radii]
    if any([i != j for i, j in zip(target_shape, structuring_element.shape)]):
        structuring_element_resized = torch.nn.functional.interpolate(
            structuring_element.unsqueeze(0).unsqueeze(0), size=target_shape,
            mode="trilinear" if ndim == 3 else "bilinear", align_corners=False)[0, 0]
    else:
        structuring_element_resized = structuring_element
    if use_distance_transform:
        binary_structuring_element = (structuring_element_resized >= 0.5).numpy()
        structuring_element_resized = distance_transform_edt(binary_structuring_element)
        structuring_element_resized /= structuring_element_resized.max()
        structuring_element_resized = torch.from_numpy(structuring_element_resized)
    if binarize and not use_distance_transform:
        structuring_element_resized = (structuring_element_resized >= 0.5).float()
    return structuring_element_resized


def place_point(position, interaction_map, point_radius, use_distance_transform=True, binarize=False,
                intensity_scale=1.0):
    """Their ``place_point`` on a 3-D tensor (the default torch path), with a fixed ``point_radius``."""
    ndim = interaction_map.ndim
    radius = tuple([point_radius for _ in range(ndim)])
    strel = build_point(radius, use_distance_transform, binarize)
    if intensity_scale != 1.0:
        strel = strel * intensity_scale
    bbox = [[position[i] - strel.shape[i] // 2, position[i] + strel.shape[i] // 2 + strel.shape[i] % 2]
            for i in range(ndim)]
    if any([i[1] < 0 for i in bbox]) or any([i[0] > s for i, s in zip(bbox, interaction_map.shape)]):
        return interaction_map
    slices = tuple(slice(max(0, bbox[i][0]), min(interaction_map.shape[i], bbox[i][1])) for i in range(ndim))
    structuring_slices = tuple(
        [slice(max(0, -bbox[i][0]), slices[i].stop - slices[i].start + max(0, -bbox[i][0])) for i in range(ndim)])
    torch.maximum(interaction_map[slices], strel[structuring_slices].to(interaction_map.device),
                  out=interaction_map[slices])
    return interaction_map


def point_channels(shape, clicks, *, radius=4, decay=0.98, device="cpu"):
    """An inference session's two point channels after ``clicks``, a list of ``((x, y, z), positive)`` in the
    order given: each click bumps the intensity by 1 / decay and is stamped at it into its channel; the
    channels are divided by the final intensity, as the network sees them. Returns (positive, negative)
    float32 tensors of ``shape`` on ``device`` (:class:`PointSession` after those clicks)."""
    session = PointSession(shape, radius=radius, decay=decay, device=device)
    for position, positive in clicks:
        session.add_point(position, positive)
    view = session.network_view()
    return view[0], view[1]


class PointSession:
    """The point channels of their inference session, kept between clicks as their session keeps them: each
    new click bumps the intensity by 1 / decay and is stamped into the stored channels (their
    ``add_point_interaction``); :meth:`network_view` divides by the intensity, as
    ``_normalize_interaction_channels_for_network_`` does before each prediction. What a click step costs
    with their code (``gtg bench clicks``'s baseline for the encoding)."""

    def __init__(self, shape, *, radius=4, decay=0.98, device="cpu"):
        self.interactions = torch.zeros((2,) + tuple(shape), dtype=torch.float32, device=device)
        self.current_interaction_intensity = 1.0
        self.radius, self.decay = radius, decay

    def add_point(self, position, positive: bool):
        if self.decay < 1:
            self.current_interaction_intensity *= 1 / self.decay
        place_point([round(i) for i in position], self.interactions[0 if positive else 1], self.radius,
                    intensity_scale=self.current_interaction_intensity)

    def add_clicks(self, fg, bg):
        """Each click of ``fg`` ((N, 3)) as a positive point, then each of ``bg`` as a negative one."""
        for clicks, positive in ((fg, True), (bg, False)):
            for c in clicks.tolist():
                self.add_point(c, positive)

    def network_view(self) -> torch.Tensor:
        return self.interactions / self.current_interaction_intensity
