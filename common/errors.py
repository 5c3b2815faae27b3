"""Errors that name the user's mistake; entry scripts print them without a stack trace."""


class ReproError(Exception):
    """Base class for errors caused by input (config, data files), not by bugs."""


class ConfigError(ReproError, ValueError):
    """A config value is invalid."""


class DataError(ReproError):
    """A data file is missing, corrupt or has the wrong shape."""


class DataUnavailableError(DataError):
    """A data set is not on disk and cannot be downloaded (no network)."""
