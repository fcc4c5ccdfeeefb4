#include "tools/internal/spec_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/types/optional.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "proto/base/status_macros.h"

namespace strata {
namespace ctl {
namespace {

constexpr size_t kMaxSpecBytes = 16 << 20;
constexpr int kMaxJsonDepth = 64;

struct Position {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
};

std::string SnakeCase(absl::string_view name) {
  std::string out;
  for (char c : name) {
    if (absl::ascii_isupper(c)) {
      out.push_back('_');
      out.push_back(absl::ascii_tolower(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Strict RFC 8259 syntax check of one JSON document that also records where
// each object key is, by its dotted path of snake_case key names (array
// indices are skipped), so protobuf's position-less field errors can be
// located. Borrows the text. Not thread-safe.
class JsonScanner {
 public:
  explicit JsonScanner(absl::string_view text) : text_(text) {}

  // OK, or INVALID_ARGUMENT "<line>:<column>: <problem>".
  absl::Status Scan();

  // Position of the key at `path`, else of the first key whose name equals
  // the last component of `path`.
  absl::optional<Position> FindKey(absl::string_view path) const;

 private:
  absl::Status Error(absl::string_view what) const;
  std::string Describe() const;  // the character at the cursor, quoted
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }
  void Advance();
  void SkipSpace();
  absl::Status ParseValue(int depth, const std::string& path);
  absl::Status ParseObject(int depth, const std::string& path);
  absl::Status ParseArray(int depth, const std::string& path);
  absl::Status ParseString(std::string* out);
  absl::Status ParseEscape(std::string* out);
  absl::Status ParseNumber();
  absl::Status ParseLiteral(absl::string_view word);
  bool ConsumeDigits();

  const absl::string_view text_;
  size_t pos_ = 0;
  Position at_;
  std::vector<std::pair<std::string, Position>> keys_;
};

absl::Status JsonScanner::Error(absl::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(at_.line, ":", at_.column, ": ", what));
}

std::string JsonScanner::Describe() const {
  if (AtEnd()) return "end of input";
  const unsigned char c = static_cast<unsigned char>(Peek());
  if (c < 0x20 || c >= 0x7f) return absl::StrCat("byte 0x", absl::Hex(c));
  return absl::StrCat("'", std::string(1, Peek()), "'");
}

void JsonScanner::Advance() {
  if (Peek() == '\n') {
    ++at_.line;
    at_.column = 1;
  } else {
    ++at_.column;
  }
  ++pos_;
}

void JsonScanner::SkipSpace() {
  while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' ||
                      Peek() == '\r')) {
    Advance();
  }
}

absl::Status JsonScanner::Scan() {
  SkipSpace();
  if (!AtEnd() && Peek() != '{') {
    return Error(
        absl::StrCat("expected a JSON object ('{') at the top level, "
                     "got ",
                     Describe()));
  }
  STRATA_RETURN_IF_ERROR(ParseValue(0, ""));
  SkipSpace();
  if (!AtEnd()) {
    return Error(absl::StrCat("unexpected ", Describe(),
                              " after the end of the JSON object"));
  }
  return absl::OkStatus();
}

absl::Status JsonScanner::ParseValue(int depth, const std::string& path) {
  SkipSpace();
  if (depth > kMaxJsonDepth) {
    return Error(absl::StrCat("nesting deeper than ", kMaxJsonDepth));
  }
  if (AtEnd()) return Error("expected a value, got end of input");
  switch (Peek()) {
    case '{':
      return ParseObject(depth, path);
    case '[':
      return ParseArray(depth, path);
    case '"': {
      std::string ignored;
      return ParseString(&ignored);
    }
    case 't':
      return ParseLiteral("true");
    case 'f':
      return ParseLiteral("false");
    case 'n':
      return ParseLiteral("null");
    default:
      if (Peek() == '-' || absl::ascii_isdigit(Peek())) return ParseNumber();
      return Error(absl::StrCat("expected a value, got ", Describe()));
  }
}

absl::Status JsonScanner::ParseObject(int depth, const std::string& path) {
  Advance();  // '{'
  SkipSpace();
  if (!AtEnd() && Peek() == '}') {
    Advance();
    return absl::OkStatus();
  }
  while (true) {
    SkipSpace();
    if (AtEnd() || Peek() != '"') {
      return Error(
          absl::StrCat("expected a quoted field name, got ", Describe()));
    }
    const Position key_at = at_;
    std::string key;
    STRATA_RETURN_IF_ERROR(ParseString(&key));
    const std::string key_path =
        path.empty() ? SnakeCase(key) : absl::StrCat(path, ".", SnakeCase(key));
    keys_.emplace_back(key_path, key_at);
    SkipSpace();
    if (AtEnd() || Peek() != ':') {
      return Error(absl::StrCat("expected ':' after field name \"", key,
                                "\", got ", Describe()));
    }
    Advance();
    STRATA_RETURN_IF_ERROR(ParseValue(depth + 1, key_path));
    SkipSpace();
    if (!AtEnd() && Peek() == ',') {
      Advance();
      continue;
    }
    if (!AtEnd() && Peek() == '}') {
      Advance();
      return absl::OkStatus();
    }
    return Error(absl::StrCat("expected ',' or '}', got ", Describe()));
  }
}

absl::Status JsonScanner::ParseArray(int depth, const std::string& path) {
  Advance();  // '['
  SkipSpace();
  if (!AtEnd() && Peek() == ']') {
    Advance();
    return absl::OkStatus();
  }
  while (true) {
    STRATA_RETURN_IF_ERROR(ParseValue(depth + 1, path));
    SkipSpace();
    if (!AtEnd() && Peek() == ',') {
      Advance();
      continue;
    }
    if (!AtEnd() && Peek() == ']') {
      Advance();
      return absl::OkStatus();
    }
    return Error(absl::StrCat("expected ',' or ']', got ", Describe()));
  }
}

absl::Status JsonScanner::ParseString(std::string* out) {
  Advance();  // opening quote
  while (true) {
    if (AtEnd()) return Error("unterminated string");
    const char c = Peek();
    if (c == '"') {
      Advance();
      return absl::OkStatus();
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      return Error(absl::StrCat("unescaped ", Describe(), " in a string"));
    }
    if (c == '\\') {
      STRATA_RETURN_IF_ERROR(ParseEscape(out));
      continue;
    }
    out->push_back(c);
    Advance();
  }
}

absl::Status JsonScanner::ParseEscape(std::string* out) {
  Advance();  // backslash
  if (AtEnd()) return Error("unterminated string");
  const char c = Peek();
  if (absl::StrContains("\"\\/bfnrt", c)) {
    out->push_back(c);  // key names only need to compare, not decode
    Advance();
    return absl::OkStatus();
  }
  if (c != 'u') return Error(absl::StrCat("invalid escape \\", Describe()));
  Advance();
  for (int i = 0; i < 4; ++i) {
    if (AtEnd() || !absl::ascii_isxdigit(Peek())) {
      return Error("\\u must be followed by four hex digits");
    }
    out->push_back(Peek());
    Advance();
  }
  return absl::OkStatus();
}

bool JsonScanner::ConsumeDigits() {
  const size_t begin = pos_;
  while (!AtEnd() && absl::ascii_isdigit(Peek())) Advance();
  return pos_ > begin;
}

absl::Status JsonScanner::ParseNumber() {
  if (Peek() == '-') Advance();
  if (!AtEnd() && Peek() == '0') {
    Advance();
  } else if (!ConsumeDigits()) {
    return Error(
        absl::StrCat("invalid number: expected a digit, got ", Describe()));
  }
  if (!AtEnd() && Peek() == '.') {
    Advance();
    if (!ConsumeDigits()) {
      return Error(
          absl::StrCat("invalid number: expected a digit after '.', "
                       "got ",
                       Describe()));
    }
  }
  if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
    Advance();
    if (!AtEnd() && (Peek() == '+' || Peek() == '-')) Advance();
    if (!ConsumeDigits()) {
      return Error(absl::StrCat("invalid number: expected an exponent, got ",
                                Describe()));
    }
  }
  return absl::OkStatus();
}

absl::Status JsonScanner::ParseLiteral(absl::string_view word) {
  for (char expected : word) {
    if (AtEnd() || Peek() != expected) {
      return Error(
          absl::StrCat("expected a value (", word, "?), got ", Describe()));
    }
    Advance();
  }
  return absl::OkStatus();
}

absl::optional<Position> JsonScanner::FindKey(absl::string_view path) const {
  const std::string wanted = SnakeCase(path);
  for (const auto& [key_path, at] : keys_) {
    if (key_path == wanted) return at;
  }
  const size_t dot = wanted.rfind('.');
  const std::string leaf =
      dot == std::string::npos ? wanted : wanted.substr(dot + 1);
  for (const auto& [key_path, at] : keys_) {
    const size_t key_dot = key_path.rfind('.');
    const absl::string_view key_leaf =
        key_dot == std::string::npos
            ? absl::string_view(key_path)
            : absl::string_view(key_path).substr(key_dot + 1);
    if (key_leaf == leaf) return at;
  }
  return absl::nullopt;
}

// The field protobuf's JSON parser names in `message`: "(a.b): ...",
// "(a) b: ..." or "b: ..." give "a.b", "a.b" and "b". Empty when none.
std::string FieldInProtoJsonError(absl::string_view message) {
  std::string path;
  if (absl::StartsWith(message, "(")) {
    const size_t close = message.find(')');
    if (close == absl::string_view::npos) return "";
    path = std::string(message.substr(1, close - 1));
    message.remove_prefix(close + 1);
    if (!absl::ConsumePrefix(&message, " ")) return path;
  }
  const size_t colon = message.find(": ");
  if (colon == absl::string_view::npos || colon == 0) return path;
  const absl::string_view leaf = message.substr(0, colon);
  if (absl::StrContains(leaf, ' ')) return path;
  return path.empty() ? std::string(leaf) : absl::StrCat(path, ".", leaf);
}

absl::Status ParseJson(absl::string_view content, absl::string_view source,
                       JobSpec* spec) {
  JsonScanner scanner(content);
  if (absl::Status s = scanner.Scan(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", s.message()));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(content.data(), content.size()), spec,
      options);
  if (status.ok()) return absl::OkStatus();
  std::string message(status.message().data(), status.message().size());
  message = message.substr(0, message.find('\n'));
  const absl::optional<Position> at =
      scanner.FindKey(FieldInProtoJsonError(message));
  if (at.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", at->line, ":", at->column, ": ", message));
  }
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", message));
}

// Collects text-format parser errors as "<source>:<line>:<col>: <message>".
class TextErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit TextErrorCollector(absl::string_view source) : source_(source) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(
        absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  const std::string source_;
  std::vector<std::string> errors_;
};

absl::Status ParseText(absl::string_view content, absl::string_view source,
                       JobSpec* spec) {
  TextErrorCollector collector(source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  if (parser.ParseFromString(std::string(content), spec)) {
    return absl::OkStatus();
  }
  if (collector.errors().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a valid text-format strata.JobSpec"));
  }
  return absl::InvalidArgumentError(absl::StrJoin(collector.errors(), "; "));
}

}  // namespace

SpecFormat SpecFormatForPath(absl::string_view path) {
  return absl::EndsWithIgnoreCase(path, ".json") ? SpecFormat::kJson
                                                 : SpecFormat::kText;
}

absl::StatusOr<JobSpec> ParseJobSpec(absl::string_view content,
                                     SpecFormat format,
                                     absl::string_view source_name) {
  JobSpec spec;
  STRATA_RETURN_IF_ERROR(format == SpecFormat::kJson
                             ? ParseJson(content, source_name, &spec)
                             : ParseText(content, source_name, &spec));
  if (spec.job_case() == JobSpec::JOB_NOT_SET) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_name,
        ": the spec sets no job; choose one, e.g. ps_load_test { } in text "
        "format or \"ps_load_test\": {} in JSON"));
  }
  return spec;
}

absl::StatusOr<JobSpec> LoadJobSpec(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int error = errno;
    return absl::Status(absl::ErrnoToStatusCode(error),
                        absl::StrCat("cannot open spec file ", path, ": ",
                                     std::strerror(error)));
  }
  std::string content;
  char buffer[1 << 16];
  size_t n = 0;
  bool too_large = false;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    content.append(buffer, n);
    if (content.size() > kMaxSpecBytes) {
      too_large = true;
      break;
    }
  }
  const int error = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (too_large) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec file ", path, " is larger than ", kMaxSpecBytes, " bytes"));
  }
  if (error != 0) {
    // Reading a directory fails with EISDIR, which maps to INVALID_ARGUMENT
    // -- not FAILED_PRECONDITION as its canonical errno mapping would say.
    const absl::StatusCode code = error == EISDIR
                                      ? absl::StatusCode::kInvalidArgument
                                      : absl::ErrnoToStatusCode(error);
    return absl::Status(code, absl::StrCat("cannot read spec file ", path, ": ",
                                           std::strerror(error)));
  }
  return ParseJobSpec(content, SpecFormatForPath(path), path);
}

}  // namespace ctl
}  // namespace strata
