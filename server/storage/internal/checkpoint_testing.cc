#include "server/storage/internal/checkpoint_testing.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "compression/compressed_field.h"
#include "server/storage/checkpoint_filename.h"

namespace strata {
namespace internal {

std::string CheckpointTestDir() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = JoinPath(
      ::testing::TempDir(),
      absl::StrCat("checkpoint_", info->test_suite_name(), "_", info->name()));
  EXPECT_TRUE(DefaultEnv()->CreateDir(dir).ok());
  return dir;
}

void WriteRaw(const std::string& path, const std::string& data) {
  auto f = DefaultEnv()->NewWritableFile(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append(data).ok());
  ASSERT_TRUE((*f)->Close().ok());
}

std::string ReadRaw(const std::string& path) {
  absl::StatusOr<std::string> s = DefaultEnv()->ReadFileToString(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

TableConfig SparseConfig(uint32_t dim, OptimizerConfig::Type opt) {
  TableConfig c;
  c.set_name("emb");
  c.set_dim(dim);
  c.mutable_initializer()->set_type(InitializerConfig::NORMAL);
  c.mutable_initializer()->set_stddev(0.1f);
  c.mutable_optimizer()->set_type(opt);
  c.mutable_optimizer()->set_learning_rate(0.1f);
  return c;
}

DenseConfig DenseCfg(uint64_t size) {
  DenseConfig c;
  c.set_name("dense");
  c.set_size(size);
  c.mutable_optimizer()->set_type(OptimizerConfig::ADAGRAD);
  c.mutable_optimizer()->set_learning_rate(0.5f);
  c.mutable_optimizer()->set_initial_accumulator(0.1f);
  return c;
}

std::unique_ptr<CompressedTable> CompressedWithState(
    float state4, compression::IndexLayout layout) {
  const std::vector<uint64_t> keys = {(uint64_t{1} << 56) | 1,
                                      (uint64_t{1} << 56) | 2};
  compression::KeyIndexOptions index;
  index.layout = layout;
  auto field = compression::CompressedField::Create(
      3, {1, 2, 3, 4, 5, 6}, {0, 0, 0}, keys, std::vector<uint32_t>{0, 1},
      index);
  EXPECT_TRUE(field.ok()) << field.status();
  if (!field.ok()) return nullptr;
  std::vector<float> state(3 * 3, 0.1f);  // clusters 0, 1 and the fallback
  state[4] = state4;
  std::vector<CompressedFieldState> fields;
  fields.push_back(CompressedFieldState{
      1, *std::move(field), std::move(state), {0, 0, 0}, FieldStats()});
  SaecConfig saec;
  saec.set_index_layout(layout == compression::IndexLayout::kMph
                            ? SaecConfig::MPH
                            : SaecConfig::COMPACT);
  auto table =
      CompressedTable::Restore(SparseConfig(3, OptimizerConfig::ADAGRAD), saec,
                               std::move(fields), CompressedTable::Options());
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *std::move(table) : nullptr;
}

absl::Status Recorder::OnSparseTable(const TableConfig& config) {
  tables.push_back(config);
  return absl::OkStatus();
}

absl::Status Recorder::OnSparseRow(uint64_t key, uint64_t frequency,
                                   int64_t step, absl::Span<const float> values,
                                   absl::Span<const float> state) {
  rows[key] = Row{frequency,
                  step,
                  {values.begin(), values.end()},
                  {state.begin(), state.end()}};
  return absl::OkStatus();
}

absl::Status Recorder::OnDenseTensor(const DenseConfig& config, int64_t step,
                                     absl::Span<const float> values,
                                     absl::Span<const float> state) {
  dense.push_back(config);
  dense_steps.push_back(step);
  dense_values.emplace_back(values.begin(), values.end());
  dense_state.emplace_back(state.begin(), state.end());
  return absl::OkStatus();
}

absl::Status Recorder::OnPushWindows(std::vector<PushWindowState> windows) {
  ++push_window_sections;
  push_windows = std::move(windows);
  return absl::OkStatus();
}

void CheckpointFileTest::SetUp() {
  dir_ = CheckpointTestDir();
  path_ = JoinPath(dir_, ShardFileName(0, 1));
  header_.checkpoint_id = 42;
  SparseTable::Options o;
  o.num_stripes = 4;
  sparse_ = *SparseTable::Create(SparseConfig(3, OptimizerConfig::ADAM), o);
  dense_ = *DenseTable::Create(DenseCfg(5));
  ASSERT_TRUE(sparse_->Push({1, 2, 3, 1}, std::vector<float>(12, 0.5f)).ok());
  std::vector<float> out(3);
  ASSERT_TRUE(sparse_->Pull({3}, true, false, out.data()).ok());
  ASSERT_TRUE(dense_->Push({1, 2, 3, 4, 5}, 0, 0).ok());
}

absl::StatusOr<ShardFileStats> CheckpointFileTest::Write(Env* env,
                                                         size_t buffer,
                                                         PushDedup* dedup) {
  const SparseTable* s = sparse_.get();
  const DenseTable* d = dense_.get();
  return WriteShardFile(env, path_, header_, {&s, 1}, {&d, 1}, buffer, {},
                        dedup);
}

}  // namespace internal
}  // namespace strata
