"""Reading, validating and splitting image-classification data."""

from zap.data.dataset import ArrayDataset, FolderDataset, ImageDataset, ImageHeader, SubsetDataset
from zap.data.errors import DataError
from zap.data.loaders import BUNDLED, as_images, from_arrays, from_folder, from_npz, load_dataset, unlabelled_folder
from zap.data.readers import from_hf_disk, from_torchvision
from zap.data.split import DataSplit, SplitSettings, stratified_holdout, train_test_split

__all__ = [
    "BUNDLED",
    "ArrayDataset",
    "DataError",
    "DataSplit",
    "FolderDataset",
    "ImageDataset",
    "ImageHeader",
    "SplitSettings",
    "SubsetDataset",
    "as_images",
    "from_arrays",
    "from_folder",
    "from_hf_disk",
    "from_npz",
    "from_torchvision",
    "load_dataset",
    "stratified_holdout",
    "train_test_split",
    "unlabelled_folder",
]
