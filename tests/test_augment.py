import numpy as np
import pytest
import scipy.sparse as sp
import torch

from dstc_lib import augment as aug


def _batch(n=6, c=3, steps=168, seed=0):
    return torch.randn(n, c, steps, generator=torch.Generator().manual_seed(seed))


def _gen(seed=1):
    return torch.Generator().manual_seed(seed)


def _line_graph(n):
    """Tiles 0-1-2-...-(n-2) in a row; tile n-1 has no neighbour."""
    rows = np.arange(n - 2)
    a = sp.coo_array((np.ones(n - 2), (rows, rows + 1)), shape=(n, n))
    return sp.csr_array(a + a.T)


@pytest.mark.parametrize("name", list(aug.AUGMENTATIONS))
def test_every_augmentation_keeps_shape_dtype_and_input(name):
    x = _batch()
    before = x.clone()
    context = aug.Context(data=x, index=torch.arange(len(x)), neighbours=_line_graph(len(x)))
    out = aug.AUGMENTATIONS[name].function(
        x, aug.AUGMENTATIONS[name].strength, generator=_gen(), context=context
    )
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(x, before)  # never in place
    assert not torch.equal(out, x)  # the default strength does change something
    again = aug.AUGMENTATIONS[name].function(
        x, aug.AUGMENTATIONS[name].strength, generator=_gen(), context=context
    )
    assert torch.equal(out, again)  # same generator state, same view


def test_shift_is_a_circular_roll_of_each_tile():
    x = _batch(n=20)
    out = aug.shift(x, 5, generator=_gen())
    for i in range(len(x)):
        rolls = [k for k in range(-5, 6) if torch.equal(out[i], torch.roll(x[i], k, dims=1))]
        assert rolls, f"tile {i} is not a roll of at most 5 hours"
    # a permutation: the same values in each (tile, channel), sorted
    assert torch.equal(out.sort(dim=2).values, x.sort(dim=2).values)
    assert torch.equal(aug.shift(x, 0, generator=_gen()), x)


def test_channel_dropout_zeroes_whole_channels_only():
    x = _batch(n=40, c=8) + 5.0  # no zero in the input
    out = aug.channel_dropout(x, 0.5, generator=_gen())
    zero = (out == 0).all(dim=2)
    kept = (out == x).all(dim=2)
    assert torch.all(zero | kept)  # each channel is either untouched or all zeros
    assert 0.3 < zero.float().mean() < 0.7
    assert torch.equal(aug.channel_dropout(x, 0.0, generator=_gen()), x)


def test_mask_hides_one_window_in_every_channel():
    x = _batch(n=30) + 5.0
    out = aug.mask(x, 10, generator=_gen())
    hidden = out == 0
    assert torch.all(hidden.all(dim=1) | ~hidden.any(dim=1))  # all channels at once
    for i in range(len(x)):
        hours = torch.nonzero(hidden[i, 0]).ravel()
        assert 1 <= len(hours) <= 10
        assert torch.equal(hours, torch.arange(hours[0], hours[0] + len(hours)))  # one window
    assert torch.equal(out[~hidden], x[~hidden])


def test_scale_multiplies_each_series_by_one_positive_factor():
    x = _batch(n=10) + 5.0
    ratio = aug.scale(x, 0.3, generator=_gen()) / x
    assert torch.allclose(ratio, ratio[:, :, :1].expand_as(ratio), rtol=1e-5)
    assert torch.all(ratio > 0)
    assert torch.equal(aug.scale(x, 0.0, generator=_gen()), x)


def test_jitter_is_multiplicative_and_zero_strength_is_identity():
    x = _batch(n=10)
    x[0] = 0.0
    out = aug.jitter(x, 0.2, generator=_gen())
    assert torch.all(out[0] == 0)  # multiplicative: zero stays zero
    spread = (out[1:] / x[1:] - 1).std()
    assert 0.15 < spread < 0.25
    assert torch.equal(aug.jitter(x, 0.0, generator=_gen()), x)


def test_day_resample_moves_whole_weekdays_and_keeps_the_weekend():
    x = _batch(n=50)
    out = aug.day_resample(x, 1.0, generator=_gen())
    days_in, days_out = x.reshape(50, 3, 7, 24), out.reshape(50, 3, 7, 24)
    assert torch.equal(days_out[:, :, 4:], days_in[:, :, 4:])  # Friday to Sunday stay
    for i in range(50):
        for d in range(4):
            assert any(torch.equal(days_out[i, :, d], days_in[i, :, s]) for s in range(4))
    assert not torch.equal(out, x)
    assert torch.equal(aug.day_resample(x, 0.0, generator=_gen()), x)
    with pytest.raises(ValueError, match="168"):
        aug.day_resample(_batch(steps=100), 0.5, generator=_gen())


def test_neighbour_mix_blends_with_a_grid_neighbour():
    data = _batch(n=5)
    graph = _line_graph(5)  # 0-1-2-3, 4 alone
    context = aug.Context(data=data, index=torch.tensor([0, 2, 4]), neighbours=graph)
    batch = data[[0, 2, 4]]
    assert torch.equal(aug.neighbour_mix(batch, 0.0, generator=_gen(), context=context), batch)
    out = aug.neighbour_mix(batch, 0.25, generator=_gen(), context=context)
    assert torch.allclose(out[0], 0.75 * data[0] + 0.25 * data[1])  # its only neighbour
    assert any(torch.allclose(out[1], 0.75 * data[2] + 0.25 * data[j]) for j in (1, 3))
    assert torch.equal(out[2], data[4])  # no neighbour: unchanged
    with pytest.raises(ValueError, match="neighbours"):
        aug.neighbour_mix(batch, 0.3, generator=_gen())


def test_augment_applies_by_name_to_a_share_of_the_batch():
    x = _batch(n=400, c=2)
    out = aug.augment(x, ["channel_dropout"], strengths={"channel_dropout": 1.0}, generator=_gen())
    dropped = (out == 0).all(dim=(1, 2))
    assert torch.all(dropped | (out == x).all(dim=(1, 2)))
    assert 0.4 < dropped.float().mean() < 0.6  # probability 0.5
    with pytest.raises(ValueError, match="unknown augmentation"):
        aug.augment(x, ["jiter"], generator=_gen())


def test_time_series_augmentations_keep_shape_and_do_what_they_say():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(40.0).reshape(1, 1, 40).repeat(6, 2, 1)
    # permutation: every series a rearrangement of its own values, channels moved alike
    out = aug.permutation(x, 4, generator=g)
    assert out.shape == x.shape
    assert torch.equal(out.sort(dim=2).values, x)
    assert torch.equal(out[:, 0], out[:, 1]) and not torch.equal(out, x)
    # crop and resize: increasing, inside the original range, a strength of 0 is the identity
    out = aug.crop_resize(x, 0.5, generator=g)
    assert out.shape == x.shape and bool((out.diff(dim=2) >= 0).all())
    assert float(out.min()) >= 0 and float(out.max()) <= 39
    assert bool(((out[:, :, -1] - out[:, :, 0]) >= 39 * 0.5 - 1e-4).all())
    assert torch.allclose(aug.crop_resize(x, 0.0, generator=g), x, atol=1e-4)
    # time warp: monotone, keeps the first and last step
    out = aug.time_warp(x, 0.5, generator=g)
    assert bool((out.diff(dim=2) >= -1e-5).all())
    assert torch.allclose(out[:, :, [0, -1]], x[:, :, [0, -1]], atol=1e-4)
    assert torch.allclose(aug.time_warp(x, 0.0, generator=g), x, atol=1e-4)
    # noise: additive, of the given size
    out = aug.noise(torch.zeros(2000, 1, 10), 0.3, generator=g)
    assert float(out.std()) == pytest.approx(0.3, rel=0.05)
