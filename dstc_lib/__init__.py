"""DSTC study library: clustering urban grid tiles by their weekly mobile-service traffic."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dstc_lib")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
