"""strata_proto_library: C++ (and gRPC) code from .proto files.

Runs the system `protoc` with the system `grpc_cpp_plugin` (Debian's
protobuf-compiler and protobuf-compiler-grpc), so nothing is fetched. Import
paths are relative to the package directory: `import "job.proto";`.
"""

def strata_proto_library(name, srcs, deps = [], grpc = False, visibility = None):
    """Generates and compiles C++ for `srcs`.

    Defines `name` (messages only, no gRPC dependency, so plain libraries can
    use the config messages) and, with grpc = True, `name_grpc` (service
    stubs, depending on `name`).

    Args:
      name: the cc_library to define.
      srcs: .proto files in this package (may be in subdirectories).
      deps: other strata_proto_library targets whose protos are imported.
      grpc: also generate gRPC service stubs.
      visibility: visibility of the cc_library.
    """
    pkg = native.package_name()
    outs = []
    hdrs = []
    for src in srcs:
        base = src[:-len(".proto")]
        hdrs.append(base + ".pb.h")
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            hdrs.append(base + ".grpc.pb.h")
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]

    plugin = ""
    if grpc:
        plugin = ("--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin " +
                  "--grpc_out=$(GENDIR)/" + pkg + " ")

    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = ("/usr/bin/protoc --proto_path=" + pkg + " " +
               "--cpp_out=$(GENDIR)/" + pkg + " " + plugin +
               " ".join([pkg + "/" + s for s in srcs])),
        message = "protoc " + " ".join(srcs),
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs,
        visibility = ["//visibility:private"],
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".pb.cc") and not o.endswith(".grpc.pb.cc")],
        hdrs = [h for h in hdrs if not h.endswith(".grpc.pb.h")],
        includes = ["."],
        deps = deps + ["@system//:protobuf"],
        visibility = visibility,
    )
    if grpc:
        native.cc_library(
            name = name + "_grpc",
            srcs = [o for o in outs if o.endswith(".grpc.pb.cc")],
            hdrs = [h for h in hdrs if h.endswith(".grpc.pb.h")],
            includes = ["."],
            deps = [":" + name, "@system//:grpc"],
            visibility = visibility,
        )
