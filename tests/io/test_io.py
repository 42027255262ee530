"""Image I/O: faithful round trips, alpha and palette policy, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from n2n.errors import N2NError
from n2n.io.images import Image, list_images, read_image, to_array, write_image
from n2n.io.values import central_square

RNG = np.random.default_rng(0)


def random_array(dtype, channels):
    high = 256 if dtype == np.uint8 else 65536
    shape = (13, 17) if channels == 1 else (13, 17, channels)
    return RNG.integers(0, high, size=shape, dtype=np.int64).astype(dtype)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".npy"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_lossless_round_trip_keeps_every_value(tmp_path, suffix, dtype, channels):
    array = random_array(dtype, channels)
    path = tmp_path / f"a{suffix}"
    image = Image(*_split(array))
    write_image(path, image)
    back = read_image(path)
    assert back.bit_depth == (8 if dtype == np.uint8 else 16)
    assert to_array(back).dtype == dtype
    np.testing.assert_array_equal(to_array(back).reshape(array.shape), array)


def _split(array):
    """Build Image arguments from an integer array the way read_image would."""
    a = array if array.ndim == 3 else array[:, :, None]
    alpha = a[:, :, 3].copy() if a.shape[2] == 4 else None
    scale = 1.0 if a.dtype == np.uint8 else 255.0 / 65535.0
    pixels = a[:, :, :3].astype(np.float32) * scale
    return pixels, (8 if a.dtype == np.uint8 else 16), alpha


def test_sixteen_bit_png_is_not_cut_to_eight_bits(tmp_path):
    array = np.arange(0, 65536, 257 * 3 + 1, dtype=np.uint16)[:60].reshape(4, 5, 3)
    array[0, 0] = 1  # values that differ only below the 8th bit
    array[0, 1] = 2
    write_image(tmp_path / "a.png", Image(*_split(array)))
    back = to_array(read_image(tmp_path / "a.png"))
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, array)


def test_float_tiff_and_npy_round_trip(tmp_path):
    pixels = RNG.uniform(0, 255, size=(9, 11, 3)).astype(np.float32)
    for suffix in (".tif", ".npy"):
        write_image(tmp_path / f"f{suffix}", Image(pixels, 32))
        back = read_image(tmp_path / f"f{suffix}")
        assert back.bit_depth == 32
        np.testing.assert_array_equal(back.pixels, pixels)


def test_jpeg_round_trip_is_close_and_drops_alpha(tmp_path, photo):
    alpha = np.full(photo.shape[:2], 7, np.uint8)
    write_image(tmp_path / "a.jpg", Image(photo, 8, alpha))
    back = read_image(tmp_path / "a.jpg")
    assert back.alpha is None and back.pixels.shape == photo.shape
    assert np.abs(back.pixels - photo).mean() < 3


def test_sixteen_bit_to_jpeg_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(N2NError, match="JPEG holds 8 bits"):
        write_image(tmp_path / "a.jpg", Image(np.zeros((4, 4, 3), np.float32), 16))
    assert list(tmp_path.iterdir()) == []


def test_palette_image_becomes_rgb(tmp_path):
    pal = PILImage.new("P", (6, 5))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(tmp_path / "p.png")
    image = read_image(tmp_path / "p.png")
    assert image.pixels.shape == (5, 6, 3)
    np.testing.assert_array_equal(image.pixels[1, 1], [0, 255, 0])
    np.testing.assert_array_equal(image.pixels[0, 0], [255, 0, 0])


def test_alpha_is_carried_through_untouched(tmp_path):
    rgba = random_array(np.uint8, 4)
    PILImage.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(image.alpha, rgba[:, :, 3])
    assert image.channels == 3


def test_planar_rgb_tiff(tmp_path):
    array = random_array(np.uint16, 3)
    tifffile.imwrite(tmp_path / "p.tif", np.moveaxis(array, -1, 0), planarconfig="separate",
                     photometric="rgb")
    np.testing.assert_array_equal(to_array(read_image(tmp_path / "p.tif")), array)


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"not an image at all"), "cannot read image"),
    (lambda p: p.write_bytes(_png_bytes()[:60]), "cannot read image"),
])
def test_bad_png_files_name_the_file(tmp_path, make, message):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(N2NError, match=message) as info:
        read_image(path)
    assert "bad.png" in str(info.value)


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    PILImage.fromarray(RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_truncated_jpeg_and_tiff_are_refused(tmp_path, photo):
    for suffix in (".jpg", ".tif"):
        write_image(tmp_path / f"a{suffix}", Image(photo))
        data = (tmp_path / f"a{suffix}").read_bytes()
        (tmp_path / f"t{suffix}").write_bytes(data[: len(data) // 2])
        with pytest.raises(N2NError, match=f"t\\{suffix}"):
            read_image(tmp_path / f"t{suffix}")


def test_cmyk_nan_and_unknown_format_are_refused(tmp_path):
    PILImage.new("CMYK", (4, 4)).save(tmp_path / "c.jpg")
    with pytest.raises(N2NError, match="CMYK"):
        read_image(tmp_path / "c.jpg")
    np.save(tmp_path / "n.npy", np.array([[1.0, np.nan]], np.float32))
    with pytest.raises(N2NError, match="NaN"):
        read_image(tmp_path / "n.npy")
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    with pytest.raises(N2NError, match="unsupported format"):
        read_image(tmp_path / "x.gif")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(N2NError, match="not an image"):
        read_image(tmp_path / "cube.npy")


def test_list_images_expands_folders_and_globs(tmp_path, photo_folder):
    assert len(list_images([photo_folder])) == 4
    assert len(list_images([str(photo_folder / "img0*.png")])) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(N2NError, match="holds no images"):
        list_images([tmp_path / "empty"])
    with pytest.raises(N2NError, match="no such file"):
        list_images([tmp_path / "missing.png"])


def test_central_square_is_a_view_of_the_middle_and_keeps_short_sides():
    array = np.arange(6 * 9).reshape(6, 9)
    middle = central_square(array, 4)
    assert middle.shape == (4, 4) and middle[0, 0] == array[1, 2] and middle.base is not None
    assert central_square(array, 8).shape == (6, 8)  # a side shorter than asked stays whole
    assert central_square(np.zeros((2, 3, 3)), 512).shape == (2, 3, 3)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_an_exif_orientation_is_applied_as_viewers_show_it(tmp_path, suffix):
    from PIL import Image as PILImage

    array = np.zeros((20, 30, 3), np.uint8)
    array[:5, :10] = 255  # a bright corner: top left as stored
    im = PILImage.fromarray(array)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as phones write it
    im.save(tmp_path / f"turned{suffix}", exif=exif, quality=100)
    pixels = read_image(tmp_path / f"turned{suffix}").pixels
    assert pixels.shape[:2] == (30, 20)  # upright: the stored width is the height (WebP reads
    # this black and white image as gray: it stores gray as equal RGB)
    assert pixels[:10, -5:].mean() > 200 and pixels[-10:, :5].mean() < 50  # corner now top right
