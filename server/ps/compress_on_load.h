// ps_server's --compress and --saec flags: whether a shard Saec-compresses
// every sparse table right after loading its checkpoint at start-up, and
// how. --saec holds a text-format strata.SaecConfig, the same text
// `stratactl compress --saec` takes; proto/ps.proto documents every field
// and its default, and NormalizeSaecConfig (server/storage/compressed_table.h)
// applies the defaults.
#ifndef STRATA_SERVER_PS_COMPRESS_ON_LOAD_H_
#define STRATA_SERVER_PS_COMPRESS_ON_LOAD_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/ps.pb.h"

namespace strata {

// `compress` is "none" or "saec"; `saec_text` a text-format SaecConfig
// (empty: every default). Returns the config to compress with at start-up,
// or nullopt for "none". INVALID_ARGUMENT naming the flag for any other
// `compress` value (the full k-means baseline is --saec='full_kmeans:
// true'), text that does not parse (with the parser's line:column message),
// values NormalizeSaecConfig rejects, and a --saec given with
// --compress=none (it would be ignored). Thread-safe.
absl::StatusOr<std::optional<SaecConfig>> ParseCompressOnLoad(
    absl::string_view compress, absl::string_view saec_text);

}  // namespace strata

#endif  // STRATA_SERVER_PS_COMPRESS_ON_LOAD_H_
