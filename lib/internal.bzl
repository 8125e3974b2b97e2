"""Visibility of the library's internal cc_libraries (headers under lib/src/)."""

# The library itself, and the tests and benchmarks of their unit.
INTERNAL = [
    "//lib:__subpackages__",
    "//tests:__subpackages__",
    "//benchmarks:__pkg__",
]
