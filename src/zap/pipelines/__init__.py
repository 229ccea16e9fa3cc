"""Pipelines: the search space, its encoding and ids, named configurations and the model zoo."""

from zap.pipelines.named import get_config, named_configs
from zap.pipelines.space import (
    DIMENSIONS,
    as_dict,
    as_pipelines_see,
    complete,
    encode,
    encoding_layout,
    encoding_names,
    largest_input_side,
    make_config,
    pipeline_id,
    search_space,
)
from zap.pipelines.zoo import ZOO, ZooError, create_model, model_info

__all__ = [
    "DIMENSIONS",
    "ZOO",
    "ZooError",
    "as_dict",
    "as_pipelines_see",
    "complete",
    "create_model",
    "encode",
    "encoding_layout",
    "encoding_names",
    "get_config",
    "largest_input_side",
    "make_config",
    "model_info",
    "named_configs",
    "pipeline_id",
    "search_space",
]
