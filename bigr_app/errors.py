"""The one family of errors the engine raises on bad input: each carries a readable message."""


class BiGRError(ValueError):
    """Base class: anything the user can fix (bad file, bad parameter, bad image or mask)."""


class ConfigError(BiGRError):
    """A configuration is missing fields or holds impossible values."""


class CheckpointError(BiGRError):
    """A weights file or folder that cannot be used, with the file named in the message."""


class SamplingError(BiGRError):
    """Sampling parameters that cannot be honoured."""


class InputError(BiGRError):
    """An image, mask, class or option that cannot be used."""


class Stopped(BiGRError):
    """A request its user stopped (Stop in the page, a cancelled API job): its sampling ends at the next
    iteration, and nothing is kept."""
