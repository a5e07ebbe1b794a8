"""RandAugment with torchvision's semantics (geovpr.train.randaugment), on constructed images."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from geovpr.errors import ConfigError
from geovpr.train.randaugment import (
    OPS,
    SIGNED,
    RandAugment,
    apply_op,
    magnitude_bins,
)
from geovpr.train.transforms import TrainTransform

# torchvision.transforms.RandAugment, as documented (docs.pytorch.org/vision, transforms.RandAugment)
TORCHVISION_OPS = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                   "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]
H, W = 48, 64


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int64)


def _noise(seed: int = 0, high: int = 256) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, high, (H, W, 3), dtype=np.uint8))


def _square(top: int, left: int, size: int = 6) -> Image.Image:
    a = np.zeros((H, W, 3), dtype=np.uint8)
    a[top:top + size, left:left + size] = 255
    return Image.fromarray(a)


def _centroid(img: Image.Image) -> tuple[float, float]:
    """(row, column) of the bright mass."""
    a = _arr(img)[..., 0].astype(float)
    rows, cols = np.indices(a.shape)
    return float((a * rows).sum() / a.sum()), float((a * cols).sum() / a.sum())


# ----------------------------------------------------------------------------- torchvision's documented setup
def test_op_list_defaults_and_signs_are_torchvisions():
    assert list(OPS) == TORCHVISION_OPS
    aug = RandAugment()
    assert (aug.num_ops, aug.magnitude, aug.num_magnitude_bins, aug.interpolation, aug.fill) == (
        2, 9, 31, "nearest", None)
    assert SIGNED == set(TORCHVISION_OPS[1:10])  # geometric + enhancers; not posterize/solarize/auto/equalize


def test_magnitude_tables():
    n = 31
    np.testing.assert_allclose(magnitude_bins("ShearX", n, H, W), np.linspace(0, 0.3, n))
    np.testing.assert_allclose(magnitude_bins("ShearY", n, H, W), np.linspace(0, 0.3, n))
    np.testing.assert_allclose(magnitude_bins("TranslateX", n, H, W), np.linspace(0, 150 / 331 * W, n))
    np.testing.assert_allclose(magnitude_bins("TranslateY", n, H, W), np.linspace(0, 150 / 331 * H, n))
    np.testing.assert_allclose(magnitude_bins("Rotate", n, H, W), np.linspace(0, 30, n))
    for op in ("Brightness", "Color", "Contrast", "Sharpness"):
        np.testing.assert_allclose(magnitude_bins(op, n, H, W), np.linspace(0, 0.9, n))
    np.testing.assert_allclose(magnitude_bins("Solarize", n, H, W), np.linspace(255, 0, n))
    posterize = magnitude_bins("Posterize", n, H, W)
    # 8 - round(i / 7.5): bins 0-3 -> 8 bits, 4-11 -> 7, ..., 27-30 -> 4
    assert posterize.tolist() == [8] * 4 + [7] * 8 + [6] * 7 + [5] * 8 + [4] * 4
    for op in ("Identity", "AutoContrast", "Equalize"):
        assert magnitude_bins(op, n, H, W) is None
    # the default bin 9 of 31: shear 0.09, rotation 9 degrees, enhancer factor 1 +- 0.27, 7 bits, threshold 178.5
    at9 = {op: magnitude_bins(op, n, H, W) for op in ("ShearX", "Rotate", "Brightness", "Posterize", "Solarize")}
    assert [float(v[9]) for v in at9.values()] == pytest.approx([0.09, 9.0, 0.27, 7, 178.5])


# ----------------------------------------------------------------------------- magnitude 0
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("op", ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
                                "Color", "Contrast", "Sharpness", "Posterize"])
def test_bin_zero_is_the_identity(op, interpolation):
    img = _noise(1)
    value = float(magnitude_bins(op, 31, H, W)[0]) if magnitude_bins(op, 31, H, W) is not None else 0.0
    out = apply_op(img, op, value, interpolation)
    assert out.size == img.size and out.mode == img.mode
    np.testing.assert_array_equal(_arr(out), _arr(img))


def test_solarize_bin_zero_inverts_only_white():
    """Threshold 255: the identity for values < 255; 255 itself (>= threshold) becomes 0, as in torchvision."""
    img = _noise(2, high=255)
    np.testing.assert_array_equal(_arr(apply_op(img, "Solarize", 255.0)), _arr(img))
    white = Image.new("RGB", (W, H), (255, 254, 0))
    assert _arr(apply_op(white, "Solarize", 255.0))[0, 0].tolist() == [0, 254, 0]


# ----------------------------------------------------------------------------- direction and range
def test_translate_moves_the_square_by_int_magnitude():
    img = _square(20, 30)
    m = float(magnitude_bins("TranslateX", 31, H, W)[9])  # 150/331 * 64 * 0.3 = 8.70 -> 8 pixels
    assert int(m) == 8
    for sign in (1, -1):
        r, c = _centroid(apply_op(img, "TranslateX", sign * m))
        assert (r, c) == (22.5, 32.5 + sign * 8)
        r, c = _centroid(apply_op(img, "TranslateY", sign * 5.9))  # int(5.9) = 5, towards the bottom
        assert (r, c) == (22.5 + sign * 5, 32.5)
    out = _arr(apply_op(img, "TranslateX", 30.0))
    assert out[:, :30].sum() == 0  # uncovered pixels are filled with black


def test_shear_x_shifts_each_row_by_magnitude_times_row():
    a = np.zeros((H, W, 3), dtype=np.uint8)
    a[:, 40] = 255  # a vertical line at column 40
    out = _arr(apply_op(Image.fromarray(a), "ShearX", 0.3))[..., 0]
    for y in (0, 10, 20, 40):
        cols = np.flatnonzero(out[y])
        assert abs(cols.mean() - (40 - 0.3 * (y + 0.5))) <= 1.0  # output x samples input x + m*y


def test_shear_y_shifts_each_column_by_magnitude_times_column():
    a = np.zeros((H, W, 3), dtype=np.uint8)
    a[30] = 255  # a horizontal line at row 30
    out = _arr(apply_op(Image.fromarray(a), "ShearY", -0.2))[..., 0]
    for x in (0, 20, 50):
        rows = np.flatnonzero(out[:, x])
        assert abs(rows.mean() - (30 + 0.2 * (x + 0.5))) <= 1.0


def test_rotate_is_counter_clockwise_about_the_centre():
    img = _square(H // 2 - 2, W // 2 + 12, size=4)  # right of the centre
    r, c = _centroid(apply_op(img, "Rotate", 90.0))
    assert r < H / 2 - 8 and abs(c - W / 2) < 3  # now above the centre
    r, c = _centroid(apply_op(img, "Rotate", -90.0))
    assert r > H / 2 + 8 and abs(c - W / 2) < 3
    r9, _ = _centroid(apply_op(img, "Rotate", float(magnitude_bins("Rotate", 31, H, W)[9])))
    assert r9 == pytest.approx(H / 2 - 14 * np.sin(np.radians(9)), abs=1.0)  # radius 14 px, turned 9 degrees


def test_brightness_scales_values_by_one_plus_magnitude():
    grey = Image.new("RGB", (W, H), (100, 100, 100))
    assert _arr(apply_op(grey, "Brightness", 0.27))[0, 0].tolist() == [127, 127, 127]
    assert _arr(apply_op(grey, "Brightness", -0.27))[0, 0].tolist() == [73, 73, 73]


def test_color_scales_saturation_and_keeps_grey():
    colour = Image.new("RGB", (W, H), (200, 100, 50))
    spread = lambda img: np.ptp(_arr(img)[0, 0])  # noqa: E731
    assert spread(apply_op(colour, "Color", 0.5)) > spread(colour) > spread(apply_op(colour, "Color", -0.5))
    grey = Image.new("RGB", (W, H), (90, 90, 90))
    np.testing.assert_array_equal(_arr(apply_op(grey, "Color", 0.9)), _arr(grey))


def test_contrast_and_sharpness_directions():
    img = _noise(3, high=200)
    std = lambda x: _arr(x).std()  # noqa: E731
    assert std(apply_op(img, "Contrast", 0.5)) > std(img) > std(apply_op(img, "Contrast", -0.5))
    edge = np.zeros((H, W, 3), dtype=np.uint8)
    edge[:, W // 2:] = 150
    edge[:, :W // 2] = 50
    base = Image.fromarray(edge).filter(ImageFilter.BLUR)
    grad = lambda x: np.abs(np.diff(_arr(x)[8:-8, :, 0], axis=1)).max()  # noqa: E731
    assert grad(apply_op(base, "Sharpness", 0.9)) > grad(base) > grad(apply_op(base, "Sharpness", -0.9))


def test_posterize_and_solarize_values():
    img = Image.new("RGB", (W, H), (200, 171, 3))
    assert _arr(apply_op(img, "Posterize", 7))[0, 0].tolist() == [200, 170, 2]  # low bit cleared
    assert _arr(apply_op(img, "Posterize", 4))[0, 0].tolist() == [192, 160, 0]
    assert _arr(apply_op(img, "Solarize", 178.5))[0, 0].tolist() == [55, 171, 3]  # 200 >= 178.5 -> 255 - 200


def test_autocontrast_and_equalize_stretch_the_range():
    a = np.full((H, W, 3), 100, dtype=np.uint8)
    a[:, W // 2:] = 150
    out = _arr(apply_op(Image.fromarray(a), "AutoContrast", 0.0))
    assert (out.min(), out.max()) == (0, 255)
    out = _arr(apply_op(Image.fromarray(a), "Equalize", 0.0))
    assert out.max() == 255 and out.min() < 100


# ----------------------------------------------------------------------------- drawing and seeding
def test_draw_uses_the_magnitude_bin_and_random_signs():
    aug = RandAugment(num_ops=3)
    draws = [op for seed in range(300) for op in aug.draw(np.random.default_rng(seed), H, W)]
    assert {op for op, _ in draws} == set(OPS)  # every op is reachable
    for op, value in draws:
        bins = magnitude_bins(op, 31, H, W)
        expected = 0.0 if bins is None else float(bins[9])
        assert abs(value) == pytest.approx(expected)
        if op not in SIGNED:
            assert value == expected
    signs = {np.sign(v) for op, v in draws if op == "Rotate"}
    assert signs == {-1.0, 1.0}
    assert len(draws) == 900


def test_same_seed_same_output_other_seed_other_ops():
    aug = RandAugment(num_ops=3, interpolation="bilinear")
    img = _noise(4)
    a = _arr(aug(img, np.random.default_rng(7)))
    b = _arr(aug(img, np.random.default_rng(7)))
    np.testing.assert_array_equal(a, b)
    sequences = {tuple(aug.draw(np.random.default_rng(s), H, W)) for s in range(20)}
    assert len(sequences) > 1
    assert RandAugment(num_ops=0)(img, np.random.default_rng(0)) is img


def test_train_transform_is_a_function_of_the_sample_seed():
    img = _noise(5)
    plain = TrainTransform((32, 32))
    aug = TrainTransform((32, 32), randaugment=RandAugment(num_ops=3))
    off = TrainTransform((32, 32), randaugment=RandAugment(num_ops=0))
    assert np.array_equal(off(img, 11).numpy(), plain(img, 11).numpy())
    assert np.array_equal(aug(img, 11).numpy(), aug(img, 11).numpy())
    outputs = [aug(img, s).numpy() for s in range(12)]  # different samples -> different augmentations
    assert len({o.tobytes() for o in outputs}) > 6


def test_sample_seeds_follow_run_seed_epoch_and_position():
    """Each image's augmentation seed is a function of (run seed, epoch, step, source, position): distinct
    per image, and the same again when a resumed run rebuilds the same step."""
    from geovpr.train.datamodule import EpochPlan, step_items

    def seeds(run_seed: int, epoch: int, step: int = 0) -> list[int]:
        plan = EpochPlan(epoch, [np.arange(8).reshape(1, 2, 4)])  # one batch of 2 places x 4 images
        return [seed for _, seed, _ in step_items(plan, [None], step, run_seed, rank=0, world_size=1)]

    assert len(set(seeds(0, 0))) == 8
    assert seeds(0, 0) == seeds(0, 0)
    assert not set(seeds(0, 0)) & set(seeds(0, 1)) and not set(seeds(0, 0)) & set(seeds(1, 0))
    assert not set(seeds(0, 0, step=0)) & set(seeds(0, 0, step=1))


@pytest.mark.parametrize("cfg,key", [
    ({"num_ops": -1}, "num_ops"), ({"num_ops": "3"}, "num_ops"), ({"magnitude": 31}, "magnitude"),
    ({"num_magnitude_bins": 1, "magnitude": 0}, "num_magnitude_bins"), ({"interpolation": "cubic"}, "interpolation"),
])
def test_bad_settings_name_the_key(cfg, key):
    with pytest.raises(ConfigError, match=f"randaugment.{key}"):
        RandAugment.from_config(cfg)


def test_training_applies_the_recipes_randaugment_to_every_image(gsv_root, tmp_path, monkeypatch):
    from train_data import RANDOM, tiny_recipe

    from geovpr.train import randaugment as ra_mod
    from geovpr.train.api import fit

    calls: list[tuple[int, tuple[int, int]]] = []
    original = ra_mod.RandAugment.__call__

    def counting(self, img, rng):
        calls.append((self.num_ops, img.size))
        return original(self, img, rng)

    monkeypatch.setattr(ra_mod.RandAugment, "__call__", counting)
    recipe = tiny_recipe(gsv_root, {"gsv": RANDOM}, max_steps=1, steps_per_epoch=1,
                         randaugment={"num_ops": 3, "magnitude": 5})
    fit(recipe, tmp_path / "run")
    assert calls == [(3, (56, 56))] * (RANDOM["places_per_batch"] * RANDOM["images_per_place"])
