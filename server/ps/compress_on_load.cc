#include "server/ps/compress_on_load.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "proto/base/status_macros.h"
#include "server/storage/compressed_table.h"

namespace strata {
namespace {

// Keeps the first parse error as "line L, column C: message" (1-based).
class FirstError final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) {
      error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

absl::StatusOr<SaecConfig> ParseSaecText(absl::string_view text) {
  SaecConfig config;
  FirstError errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--saec is not a text-format strata.SaecConfig (", errors.error(),
        "): '", text, "'; e.g. --saec='clusters: 64 min_features: 200'"));
  }
  const absl::StatusOr<SaecConfig> normalized = NormalizeSaecConfig(config);
  if (!normalized.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--saec: ", normalized.status().message()));
  }
  return config;
}

}  // namespace

absl::StatusOr<std::optional<SaecConfig>> ParseCompressOnLoad(
    absl::string_view compress, absl::string_view saec_text) {
  if (compress == "none") {
    if (!saec_text.empty()) {
      return absl::InvalidArgumentError(
          "--saec has no effect without --compress=saec");
    }
    return std::nullopt;
  }
  if (compress != "saec") {
    return absl::InvalidArgumentError(
        absl::StrCat("--compress must be saec or none, not '", compress,
                     "' (the full k-means baseline is --compress=saec "
                     "--saec='full_kmeans: true')"));
  }
  STRATA_ASSIGN_OR_RETURN(SaecConfig config, ParseSaecText(saec_text));
  return config;
}

}  // namespace strata
