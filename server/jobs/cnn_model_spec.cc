#include "server/jobs/cnn_model_spec.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace jobs {
namespace {

constexpr char kField[] = "cnn_train.model_spec";

// The kind of a layer type, and which optional fields it uses.
struct TypeRule {
  CnnLayerSpec::Type type;
  CnnLayerKind kind;
  bool out, window, padding, rate;
};
constexpr TypeRule kTypes[] = {
    {CnnLayerSpec::CONV, CnnLayerKind::kConv, true, true, true, false},
    {CnnLayerSpec::MAX_POOL, CnnLayerKind::kMaxPool, false, true, false, false},
    {CnnLayerSpec::RELU, CnnLayerKind::kRelu, false, false, false, false},
    {CnnLayerSpec::DROPOUT, CnnLayerKind::kDropout, false, false, false, true},
    {CnnLayerSpec::FLATTEN, CnnLayerKind::kFlatten, false, false, false, false},
    {CnnLayerSpec::LINEAR, CnnLayerKind::kLinear, true, false, false, false},
};

// The first field `l` sets that `rule`'s type does not use, or nullptr.
const char* UnusedField(const CnnLayerSpec& l, const TypeRule& rule) {
  if (!rule.out && l.out() != 0) return "out";
  if (!rule.window && l.kernel() != 0) return "kernel";
  if (!rule.window && l.stride() != 0) return "stride";
  if (!rule.padding && l.padding() != 0) return "padding";
  if (!rule.rate && l.rate() != 0) return "rate";
  return nullptr;
}

absl::StatusOr<CnnLayer> ConvertLayer(const CnnLayerSpec& l, int index) {
  const std::string where = absl::StrCat(kField, ".layers[", index, "]");
  const TypeRule* rule = nullptr;
  for (const TypeRule& r : kTypes) {
    if (r.type == l.type()) rule = &r;
  }
  if (rule == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unknown type ", static_cast<int>(l.type()),
                     " (CONV, MAX_POOL, RELU, DROPOUT, FLATTEN, LINEAR)"));
  }
  const absl::string_view type_name = CnnLayerKindName(rule->kind);
  if (const char* f = UnusedField(l, *rule); f != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " (", type_name, "): ", f, " does not apply to ", type_name));
  }
  CnnLayer out;
  out.kind = rule->kind;
  out.name = absl::StrCat(absl::AsciiStrToLower(type_name), "_", index);
  out.out = l.out();
  out.kernel = l.kernel();
  out.stride = l.stride();
  if (out.stride == 0 && rule->window) {
    out.stride = rule->kind == CnnLayerKind::kConv ? 1 : out.kernel;
  }
  out.padding = l.padding();
  out.rate = l.rate();
  return out;
}

absl::StatusOr<CnnModelDef> ConvertModel(const CnnModelSpec& s) {
  CnnModelDef m;
  m.name = "custom";
  m.channels = s.channels();
  m.height = s.height();
  m.width = s.width();
  m.split_after = s.split_after();
  for (int i = 0; i < s.layers_size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(CnnLayer l, ConvertLayer(s.layers(i), i));
    if (s.split_after() == 0 && l.kind == CnnLayerKind::kFlatten &&
        m.split_after == 0) {
      m.split_after = i + 1;
    }
    m.layers.push_back(std::move(l));
  }
  return m;
}

}  // namespace

absl::StatusOr<CnnModelDef> CnnModelOf(const CnnTrainSpec& spec) {
  if (spec.has_model_spec()) {
    if (!spec.model().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cnn_train: set model ('", spec.model(),
                       "') or model_spec, not both"));
    }
    return ConvertModel(spec.model_spec());
  }
  const CnnModelDef* preset = FindCnnModel(spec.model());
  if (preset == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cnn_train.model '", spec.model(), "' is not one of ",
                     CnnModelNameList()));
  }
  return *preset;
}

absl::StatusOr<CnnModelInfo> InferSpecModel(const CnnTrainSpec& spec,
                                            const CnnModelLimits& limits,
                                            CnnModelDef* model) {
  if (spec.has_model_spec()) {  // bounded before converting
    STRATA_RETURN_IF_ERROR(
        CheckCnnLayerCount(spec.model_spec().layers_size(), limits, kField));
  }
  STRATA_ASSIGN_OR_RETURN(*model, CnnModelOf(spec));
  return InferCnnModel(*model, limits,
                       spec.has_model_spec() ? kField : "cnn_train.model");
}

}  // namespace jobs
}  // namespace strata
