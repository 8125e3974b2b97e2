"""One libFuzzer target per parser of outside bytes, and its corpus as a regression test."""

def re_dms_fuzz_target(name, srcs, deps):
    """Defines `name` (the fuzzer) and `name_corpus_test`.

    Under --config=fuzz (clang-14, see scripts/fuzz) `name` links libFuzzer's
    main. In every other build it links replay_main instead, so the target
    still builds with gcc, and `name_corpus_test` runs every file of
    corpus/<name>/ through it: the seeds, and every crash ever found, stay
    regression tests in the plain and the ASan runs.
    """
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps,
        alwayslink = True,
    )
    native.cc_binary(
        name = name,
        testonly = True,
        deps = [":" + name + "_lib"] + select({
            "//tests/fuzz:fuzzing": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
        linkopts = select({
            "//tests/fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        args = ["tests/fuzz/corpus/" + name],
        data = native.glob(["corpus/" + name + "/**"]),
        deps = [
            ":" + name + "_lib",
            "//tests/fuzz:replay_main",
        ],
    )
