"""What BiGR's representations and samples are worth: features, linear probes, the feature map, metrics."""
from .features import bit_features, features, features_of_kind, layer_features, pixel_features

__all__ = ["bit_features", "features", "features_of_kind", "layer_features", "pixel_features"]
