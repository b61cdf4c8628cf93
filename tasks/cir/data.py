"""The Prefect task that reads composed-image-retrieval triplets and checks their images (paper 6), once per
command: the CLI only checks that the triplet file exists."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.config import TripletSourceParams
from embedlab.image_text.triplet_readers import read_cirr, read_fashioniq, read_generated_triplets
from embedlab.image_text.triplets import Triplet, check_triplet_images


@task(cache_policy=NO_CACHE)
def read_cir_triplets(source: TripletSourceParams, path: Path, data_root: Path) -> list[Triplet]:
    """The triplets of `path` in `source.format` (images under data_root/`source.images`); DataError naming the
    first triplet whose reference or target image is missing, and the path, before anything else runs."""
    images = data_root / source.images
    if source.format == "fashioniq":
        triplets = read_fashioniq(path, images, source.image_suffix)
    elif source.format == "cirr":
        triplets = read_cirr(path, data_root / source.image_names, images)
    else:
        triplets = read_generated_triplets(path, images)
    check_triplet_images(triplets)
    return triplets

