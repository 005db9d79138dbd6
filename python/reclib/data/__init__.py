"""The data layer: log validation, the id indexer and the public dataset loaders."""

from reclib.data.datasets import download_dataset, load_dataset, resolve_data_dir
from reclib.data.indexer import Indexer
from reclib.data.schema import Interactions, interactions_from_frame

__all__ = [
    "Indexer",
    "Interactions",
    "download_dataset",
    "interactions_from_frame",
    "load_dataset",
    "resolve_data_dir",
]
