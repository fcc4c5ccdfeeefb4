#include "server/jobs/internal/spec_rules.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"

namespace strata {
namespace jobs {
namespace internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsNumeric(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return true;
    default:
      return false;
  }
}

const FieldDescriptor* NumericField(const Descriptor* d, const char* name) {
  const FieldDescriptor* f = d->FindFieldByName(name);
  CHECK(f != nullptr && IsNumeric(f))
      << "spec rule names no numeric field '" << name << "' in "
      << d->full_name();
  return f;
}

// The value of singular field `f` (index < 0) or of element `index`.
double GetNumber(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
    default:
      return rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
  }
}

// The exact value as text: integers in full, floats as %g.
std::string NumberText(const Message& m, const FieldDescriptor* f,
                       int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index)
                              : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index)
                              : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_UINT32:  // exact in a double
      return absl::StrCat(static_cast<int64_t>(GetNumber(m, f, index)));
    default:
      return absl::StrCat(GetNumber(m, f, index));
  }
}

void SetNumber(Message* m, const FieldDescriptor* f, double v) {
  const Reflection* r = m->GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return r->SetInt32(m, f, static_cast<int32_t>(v));
    case FieldDescriptor::CPPTYPE_INT64:
      return r->SetInt64(m, f, static_cast<int64_t>(v));
    case FieldDescriptor::CPPTYPE_UINT32:
      return r->SetUInt32(m, f, static_cast<uint32_t>(v));
    case FieldDescriptor::CPPTYPE_UINT64:
      return r->SetUInt64(m, f, static_cast<uint64_t>(v));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return r->SetFloat(m, f, static_cast<float>(v));
    default:
      return r->SetDouble(m, f, v);
  }
}

// A bound as text: whole numbers without exponent.
std::string BoundText(double v) {
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  if (std::floor(v) == v && std::fabs(v) < 1e18) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrCat(v);
}

std::string RangeText(const NumberRule& rule) {
  return absl::StrCat(rule.lower == Bound::kInclusive && !std::isinf(rule.min)
                          ? "["
                          : "(",
                      BoundText(rule.min), ", ", BoundText(rule.max),
                      rule.upper == Bound::kInclusive && !std::isinf(rule.max)
                          ? "]"
                          : ")");
}

bool InRange(double v, const NumberRule& rule) {
  const bool above = rule.lower == Bound::kInclusive ? v >= rule.min
                                                     : v > rule.min;
  const bool below = rule.upper == Bound::kInclusive ? v <= rule.max
                                                     : v < rule.max;
  return above && below;
}

std::string Join(absl::string_view path, absl::string_view field) {
  return path.empty() ? std::string(field) : absl::StrCat(path, ".", field);
}

absl::Status CheckFieldShape(const Message& m, const FieldDescriptor* f,
                             const std::string& where);

}  // namespace

void ApplyNumberDefaults(absl::Span<const NumberRule> rules,
                         Message* message) {
  for (const NumberRule& rule : rules) {
    const FieldDescriptor* f = NumericField(message->GetDescriptor(),
                                            rule.field);
    if (f->is_repeated() || std::isnan(rule.default_value)) continue;
    if (GetNumber(*message, f, -1) == 0) {
      SetNumber(message, f, rule.default_value);
    }
  }
}

absl::Status CheckNumberRules(absl::Span<const NumberRule> rules,
                              const Message& message, absl::string_view path) {
  for (const NumberRule& rule : rules) {
    const FieldDescriptor* f = NumericField(message.GetDescriptor(),
                                            rule.field);
    const std::string what = Join(path, rule.field);
    if (!f->is_repeated()) {
      if (!InRange(GetNumber(message, f, -1), rule)) {
        return OutOfRange(what, NumberText(message, f, -1), rule);
      }
      continue;
    }
    const int n = message.GetReflection()->FieldSize(message, f);
    for (int i = 0; i < n; ++i) {
      if (!InRange(GetNumber(message, f, i), rule)) {
        return OutOfRange(what, NumberText(message, f, i), rule);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status OutOfRange(absl::string_view what, absl::string_view value,
                        const NumberRule& rule) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " ", value, " is out of range ", RangeText(rule)));
}

absl::Status OutOfRange(absl::string_view what, uint64_t value, uint64_t lo,
                        uint64_t hi) {
  return absl::InvalidArgumentError(absl::StrCat(
      what, " ", value, " is out of range [", lo, ", ", hi, "]"));
}

absl::Status CheckLabel(absl::string_view what, absl::string_view value,
                        size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", value.size(), " bytes; the limit is ", max_bytes));
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " holds a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPath(absl::string_view what, absl::string_view value) {
  return CheckLabel(what, value, kMaxPathBytes);
}

absl::Status CheckWellFormed(const Message& message, absl::string_view path) {
  const Reflection* r = message.GetReflection();
  const std::string here = path.empty() ? "job spec" : std::string(path);
  const google::protobuf::UnknownFieldSet& unknown =
      r->GetUnknownFields(message);
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        here, " has a field this build does not know (number ",
        unknown.field(0).number(), "); is the client newer than the server?"));
  }
  const Descriptor* d = message.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (absl::Status s = CheckFieldShape(message, f, Join(path, f->name()));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

namespace {

// One element (index >= 0) or the singular value of `f`.
absl::Status CheckElement(const Message& m, const FieldDescriptor* f,
                          int index, const std::string& where) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      if (!std::isfinite(GetNumber(m, f, index))) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " is ", GetNumber(m, f, index), "; it must be finite"));
      }
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int v = rep ? r->GetRepeatedEnumValue(m, f, index)
                        : r->GetEnumValue(m, f);
      if (f->enum_type()->FindValueByNumber(v) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " ", v, " is not a value of ",
                         f->enum_type()->name()));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s =
          rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
              : r->GetStringReference(m, f, &scratch);
      if (s.size() > kMaxStringBytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " is ", s.size(), " bytes; the limit is ",
            kMaxStringBytes));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return CheckWellFormed(rep ? r->GetRepeatedMessage(m, f, index)
                                 : r->GetMessage(m, f),
                             where);
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckFieldShape(const Message& m, const FieldDescriptor* f,
                             const std::string& where) {
  const Reflection* r = m.GetReflection();
  if (!f->is_repeated()) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !r->HasField(m, f)) {
      return absl::OkStatus();
    }
    return CheckElement(m, f, -1, where);
  }
  const int n = r->FieldSize(m, f);
  if (n > kMaxRepeated) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " has ", n, " entries; the limit is ", kMaxRepeated));
  }
  for (int i = 0; i < n; ++i) {
    if (absl::Status s = CheckElement(m, f, i, where); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

std::string RulesMarkdown(absl::string_view path,
                          absl::Span<const NumberRule> rules) {
  std::string out;
  for (const NumberRule& rule : rules) {
    const std::string def =
        std::isnan(rule.default_value) ? "-" : BoundText(rule.default_value);
    absl::StrAppend(&out, "| `", Join(path, rule.field), "` | ", def, " | ",
                    RangeText(rule), " | ", rule.doc, " |\n");
  }
  return out;
}

}  // namespace internal
}  // namespace jobs
}  // namespace strata
