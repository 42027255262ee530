"""Files in and out: images (:mod:`.images`), safe writing (:mod:`.files`), and the image
formats, one module each, listed in :mod:`.formats.registry`. Knows nothing of models.

``from n2n.io import read_image, write_image`` is the documented entry.
"""

from n2n.io.images import IMAGE_SUFFIXES, Image, list_images, read_image, write_image

__all__ = ["IMAGE_SUFFIXES", "Image", "list_images", "read_image", "write_image"]
