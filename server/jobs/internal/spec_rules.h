// The building blocks every job type's spec library uses, so that a kind of
// rule (a numeric default and bound, a name, a path, well-formedness) is
// written once: declarative tables of numeric rules applied through
// protobuf reflection, and the checks for names, paths and whole messages.
// Error messages name the field by its path from the JobSpec
// ("ctr_train.model.embedding_dim 5000 is out of range [1, 4096]").
#ifndef STRATA_SERVER_JOBS_INTERNAL_SPEC_RULES_H_
#define STRATA_SERVER_JOBS_INTERNAL_SPEC_RULES_H_

#include <cstddef>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/message.h"
#include "proto/base/names.h"

namespace strata {
namespace jobs {
namespace internal {

// `default_value` of a rule whose field keeps 0 when unset.
inline constexpr double kNoDefault = std::numeric_limits<double>::quiet_NaN();
// `max` of a rule with no upper bound.
inline constexpr double kUnbounded = std::numeric_limits<double>::infinity();

// Longest string any spec field may hold (names and paths have tighter
// limits); longest repeated field.
inline constexpr size_t kMaxStringBytes = 4096;
inline constexpr int kMaxRepeated = 1024;
// Names (roles, tables: proto/base/names.h, shared with the shard) and paths.
using ::strata::kMaxNameBytes;
inline constexpr size_t kMaxPathBytes = 4096;

enum class Bound { kInclusive, kExclusive };
// Short names for rule tables: (0, 1] is {.., 0, 1, kOpen, kClosed}.
inline constexpr Bound kOpen = Bound::kExclusive;
inline constexpr Bound kClosed = Bound::kInclusive;

// The head of a Markdown table of RulesMarkdown rows.
inline constexpr char kRulesTableHead[] =
    "| field | default | range | notes |\n|---|---|---|---|\n";

// One numeric field (singular, or each element of a repeated field) of a spec
// message: the default a 0 (proto3's "unset") becomes, and the bounds the
// value must then satisfy. A table of these per message is the single source
// of that message's numeric defaults, bounds and their documentation.
struct NumberRule {
  const char* field;                // field name in the message
  double default_value;             // kNoDefault: 0 stays 0
  double min;
  double max;                       // kUnbounded: no upper bound
  Bound lower = Bound::kInclusive;
  Bound upper = Bound::kInclusive;
  const char* doc = "";             // extra words for docs/jobs.md
};

// Sets every singular field of `rules` that holds 0 to its default.
// CHECK-fails when a rule names no numeric field of `message` (a programmer
// bug; job_types_test applies every table).
void ApplyNumberDefaults(absl::Span<const NumberRule> rules,
                         google::protobuf::Message* message);

// INVALID_ARGUMENT naming "<path>.<field>" when a field (or an element of a
// repeated field) is outside its rule's bounds.
absl::Status CheckNumberRules(absl::Span<const NumberRule> rules,
                              const google::protobuf::Message& message,
                              absl::string_view path);

// "<what> <value> is out of range [lo, hi]" as INVALID_ARGUMENT.
absl::Status OutOfRange(absl::string_view what, absl::string_view value,
                        const NumberRule& rule);
absl::Status OutOfRange(absl::string_view what, uint64_t value, uint64_t lo,
                        uint64_t hi);

// A role or table name: 1..max_bytes of [A-Za-z0-9_.:/-].
using ::strata::CheckName;
// A file or directory path (empty allowed): at most kMaxPathBytes, no control
// characters.
absl::Status CheckPath(absl::string_view what, absl::string_view value);
// A free-form label: at most max_bytes, no control characters.
absl::Status CheckLabel(absl::string_view what, absl::string_view value,
                        size_t max_bytes);

// Whole-message well-formedness, recursively: no unknown fields (a field
// this build does not know is refused, not silently ignored), every enum
// field holds a declared value, every float/double is finite, no string is
// longer than kMaxStringBytes, no repeated field longer than kMaxRepeated.
// INVALID_ARGUMENT naming the field's path.
absl::Status CheckWellFormed(const google::protobuf::Message& message,
                             absl::string_view path);

// Markdown table rows "| path.field | default | range | doc |" for docs.
std::string RulesMarkdown(absl::string_view path,
                          absl::Span<const NumberRule> rules);

}  // namespace internal
}  // namespace jobs
}  // namespace strata

#endif  // STRATA_SERVER_JOBS_INTERNAL_SPEC_RULES_H_
