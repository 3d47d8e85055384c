"""The data package's error type."""


class DataError(ValueError):
    """A data set or image that cannot be loaded; the message names the flag or file and the problem."""
