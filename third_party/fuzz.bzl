"""strata_fuzz_target: a libFuzzer entry point that every build replays.

A fuzz target's `srcs` define `LLVMFuzzerTestOneInput`. `<name>` is a binary
that runs the entry point on every file named on its command line (files of
named directories too): in a default build through
//third_party/fuzz:replay_main, under --config=fuzz (clang, libFuzzer,
ASan + UBSan; docs/fuzzing.md) as a real libFuzzer binary that also mutates.
`<name>_corpus_test` replays the seed corpus, the directory
`testdata/<name>_corpus` of the package (tools/fuzz.sh finds it by that
name), in every `bazel test //...`, so CI runs every seed, and every crash
found and added to the corpus, on every change.
"""

def strata_fuzz_target(name, srcs, deps = [], size = "small"):
    """Defines `name` (the binary) and `name`_corpus_test; see above.

    Args:
      name: the binary.
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: cc deps.
      size: size of the corpus test.
    """
    native.cc_binary(
        name = name,
        srcs = srcs,
        testonly = True,
        deps = deps + select({
            "//:fuzz": [],
            "//conditions:default": ["//third_party/fuzz:replay_main"],
        }),
        linkopts = select({
            "//:fuzz": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    corpus = "testdata/%s_corpus" % name
    corpus_path = native.package_name() + "/" + corpus
    native.sh_test(
        name = name + "_corpus_test",
        size = size,
        srcs = ["//third_party/fuzz:replay_test.sh"],
        args = ["$(location :%s)" % name, corpus_path],
        data = [":" + name] + native.glob([corpus + "/**"]),
    )
