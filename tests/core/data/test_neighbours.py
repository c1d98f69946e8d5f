"""Tests for the neighbour graph, the InfoNCE neighbour loss and the neighbour-pair samplers."""

import numpy as np
import pytest
import torch

from napari_autoencoders.core.data.neighbours import (
    EXAGGERATED_SHARE,
    EXAGGERATION,
    NeighbourSampler,
    exaggeration_at,
    kernel_degrees_of_freedom,
    neighbour_graph,
    neighbour_loss,
    neighbour_samplers,
)
from napari_autoencoders.core.data.patches import PatchSampler


def two_groups(count=20, size=6, seed=0):
    """Frames (2 * count, 1, size, size): dim noise, then bright noise."""
    rng = np.random.default_rng(seed)
    frames = rng.random((2 * count, 1, size, size)).astype(np.float32) * 0.1
    frames[count:] += 1
    return frames


def test_graph_is_symmetric_without_self_loops():
    edges = neighbour_graph(two_groups(), 4)
    pairs = set(map(tuple, edges))
    assert len(pairs) == len(edges)  # no pair twice
    assert all((j, i) in pairs for i, j in pairs)
    assert not any(i == j for i, j in pairs)
    assert np.bincount(edges[:, 0], minlength=40).min() >= 1  # no frame is left out


def test_graph_keeps_mutual_neighbours_and_each_nearest_one():
    # a tight group at 0.0 .. 0.4 and an outlier at 10, in one dimension
    frames = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 10.0], np.float32)[:, None, None, None]
    pairs = set(map(tuple, neighbour_graph(frames, 2)))
    assert {(0, 1), (1, 2), (2, 3), (3, 4)} <= pairs  # mutual 2-nearest neighbours
    assert (0, 2) not in pairs  # 2 is among the 2 nearest of 0, but 0 not among those of 2
    assert {j for i, j in pairs if i == 5} == {4}  # the outlier keeps only its nearest


def test_graph_links_frames_of_the_same_group_only():
    edges = neighbour_graph(two_groups(), 5)
    assert np.all((edges[:, 0] < 20) == (edges[:, 1] < 20))


def test_graph_reduces_large_frames_with_pca():
    frames = two_groups(count=40, size=10)  # 100 pixels > 50 components
    assert np.all((neighbour_graph(frames, 3)[:, 0] < 40) == (neighbour_graph(frames, 3)[:, 1] < 40))


def test_graph_of_identical_frames_joins_each_to_another():
    edges = neighbour_graph(np.zeros((6, 1, 3, 3), np.float32), 1)
    assert not np.any(edges[:, 0] == edges[:, 1])
    assert set(edges[:, 0]) == set(range(6))


@pytest.mark.parametrize("neighbours", [0, 40])
def test_graph_needs_more_frames_than_neighbours(neighbours):
    with pytest.raises(ValueError, match="more frames than neighbours"):
        neighbour_graph(two_groups(), neighbours)


def test_loss_prefers_codes_where_neighbours_are_near():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(64, 2, generator=generator) * 100
    near = neighbour_loss(centres, centres + 0.1)
    scattered = neighbour_loss(centres, torch.randn(64, 2, generator=generator) * 100)
    assert near < 1 < 4 < scattered  # chance: log(64) = 4.16


def test_loss_of_coinciding_codes_is_log_of_the_batch():
    codes = torch.zeros(16, 3)
    assert torch.isclose(neighbour_loss(codes, codes), torch.log(torch.tensor(16.0)))


def test_loss_with_one_degree_of_freedom_is_the_cauchy_kernel_of_t_sne():
    generator = torch.Generator().manual_seed(0)
    heads, tails = torch.randn(8, 2, generator=generator), torch.randn(8, 2, generator=generator)
    similarity = 1 / (1 + torch.cdist(heads, tails) ** 2)
    probability = similarity.diag() / similarity.sum(1), similarity.diag() / similarity.sum(0)
    expected = -0.5 * (probability[0].log().mean() + probability[1].log().mean())
    assert torch.isclose(neighbour_loss(heads, tails, degrees_of_freedom=1), expected)


def test_heavier_tails_push_harder_on_distant_frames():
    # pairs that coincide, 10 apart from each other: the heavier tail still feels the others
    codes = torch.arange(8.0)[:, None] * torch.tensor([10.0, 0.0])
    cauchy = neighbour_loss(codes, codes, degrees_of_freedom=1)
    heavy = neighbour_loss(codes, codes, degrees_of_freedom=0.5)
    assert 0 < cauchy < heavy


def test_the_kernel_has_heavier_tails_in_a_plane_than_in_more_dimensions():
    assert kernel_degrees_of_freedom(2) == 0.5 < kernel_degrees_of_freedom(3) == kernel_degrees_of_freedom(10) == 1
    generator = torch.Generator().manual_seed(0)
    for dim in (2, 10):
        heads, tails = torch.randn(8, dim, generator=generator), torch.randn(8, dim, generator=generator)
        chosen = kernel_degrees_of_freedom(dim)
        assert torch.isclose(neighbour_loss(heads, tails), neighbour_loss(heads, tails, degrees_of_freedom=chosen))


def test_exaggeration_multiplies_the_attraction_within_pairs():
    generator = torch.Generator().manual_seed(0)
    heads, tails = torch.randn(8, 2, generator=generator), torch.randn(8, 2, generator=generator)
    attraction = -torch.log1p(torch.cdist(heads, tails).diagonal() ** 2).mean()
    plain = neighbour_loss(heads, tails, degrees_of_freedom=1)
    exaggerated = neighbour_loss(heads, tails, degrees_of_freedom=1, exaggeration=4)
    assert torch.isclose(plain - exaggerated, 3 * attraction)


def test_exaggeration_lasts_for_the_first_part_of_the_training():
    assert exaggeration_at(0.0) == exaggeration_at(EXAGGERATED_SHARE - 1e-9) == EXAGGERATION > 1
    assert exaggeration_at(EXAGGERATED_SHARE) == exaggeration_at(0.9) == 1


def test_minimising_the_loss_separates_the_groups_of_the_graph():
    # the frames of a group are noise, so with few neighbours the mutual graph splits a
    # group into pieces that the heavy tail then also pushes apart
    edges = torch.from_numpy(neighbour_graph(two_groups(), 10))
    codes = torch.randn(40, 2, generator=torch.Generator().manual_seed(0)).requires_grad_()
    optimizer = torch.optim.Adam([codes], lr=0.05)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        batch = edges[torch.randint(0, len(edges), (32,), generator=generator)]
        optimizer.zero_grad()
        neighbour_loss(codes[batch[:, 0]], codes[batch[:, 1]]).backward()
        optimizer.step()
    codes = codes.detach()
    within = torch.cdist(codes[:20], codes[:20]).mean()
    across = torch.cdist(codes[:20], codes[20:]).mean()
    assert across > 3 * within


def test_sampler_gives_heads_then_their_neighbours():
    count = 12
    frames = np.arange(count, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 4, 4), np.float32)
    edges = np.array([[i, (i + 1) % count] for i in range(count)])
    rng = np.random.default_rng(0)
    patches = PatchSampler(frames, frames, patch_size=4, batch_size=8, augment=False, rng=rng)
    inputs, targets = NeighbourSampler(patches, edges, rng).sample()
    assert inputs.shape == (8, 1, 4, 4)
    ids = inputs[:, 0, 0, 0].long()
    heads, tails = ids[:4], ids[4:]
    assert torch.equal(tails, (heads + 1) % count)
    assert torch.equal(inputs, targets)


def numbered_frames(count):
    """Frames (count, 1, 4, 4) whose pixels all hold their index."""
    return np.arange(count, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 4, 4), np.float32)


def test_training_pairs_join_training_frames_and_validation_pairs_start_held_out():
    frames = numbered_frames(40)
    train, val = neighbour_samplers(
        frames, frames, neighbours=3, fraction=0.2, batch_size=16, augment=False, seed=0,
        rng=np.random.default_rng(0),
    )
    seen_in_training = {int(v) for _ in range(50) for v in train.sample()[0][:, 0, 0, 0]}
    heads = {int(v) for _ in range(50) for v in val.sample()[0][:8, 0, 0, 0]}
    assert len(heads) <= 8 and heads.isdisjoint(seen_in_training)
    assert len(seen_in_training) > 25  # most of the 32 training frames


def test_without_a_validation_split_both_samplers_use_every_frame():
    frames = numbered_frames(10)
    train, val = neighbour_samplers(
        frames, frames, neighbours=3, fraction=0.0, batch_size=8, augment=False, seed=0,
        rng=np.random.default_rng(0),
    )
    assert len(train.edges) == len(val.edges) == len(neighbour_graph(frames, 3))


def test_both_frames_of_a_pair_get_the_same_symmetry():
    rng = np.random.default_rng(0)
    pattern = rng.random((1, 1, 6, 6)).astype(np.float32)  # no symmetry of its own
    frames = np.concatenate([pattern + index for index in range(8)])  # pairs 2m, 2m + 1 alike
    frames[1::2] = frames[::2]
    edges = np.array([[2 * m, 2 * m + 1] for m in range(4)])
    patches = PatchSampler(frames, frames, patch_size=6, batch_size=16, augment=True, rng=rng)
    inputs, _ = NeighbourSampler(patches, edges, rng).sample()
    assert torch.equal(inputs[:8], inputs[8:])
    turned = {tuple(inputs[i, 0, 0, :2].tolist()) for i in range(8)}
    assert len(turned) > 1  # and the pairs were turned in different ways


def test_no_pairs_among_the_training_frames_is_refused():
    frames = numbered_frames(2)
    with pytest.raises(ValueError, match="no two training frames are neighbours"):
        neighbour_samplers(
            frames, frames, neighbours=1, fraction=0.5, batch_size=4, augment=False, seed=0,
            rng=np.random.default_rng(0),
        )

