// ctr_datagen: writes synthetic click logs in the Criteo TSV layout from the
// planted model of worker/ctr/datagen.h, and prints the planted model's own
// AUC and log loss on them (the ceiling a trained model can approach).
//
//   ctr_datagen --out=/tmp/ctr.tsv --rows=1000000 --seed=1
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "worker/ctr/datagen.h"
#include "worker/ctr/evaluation.h"

ABSL_FLAG(std::string, out, "", "Output TSV file (required).");
ABSL_FLAG(uint64_t, rows, 1000000, "Rows to write.");
ABSL_FLAG(uint64_t, seed, 1, "Generator seed.");
ABSL_FLAG(uint64_t, max_vocab, 200000, "Largest categorical vocabulary.");
ABSL_FLAG(int32_t, groups, 100, "Latent groups per categorical field.");
ABSL_FLAG(double, zipf, 1.1, "Zipf exponent of feature frequencies.");
ABSL_FLAG(double, vocab_share, 1.0,
          "Share of each categorical vocabulary rows draw from, in (0, 1]: "
          "< 1 for the early phase of a growing vocabulary.");
ABSL_FLAG(bool, eval_stream, false,
          "Write the held-out stream instead of the training stream.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_out);
  if (path.empty() || absl::GetFlag(FLAGS_rows) == 0 ||
      absl::GetFlag(FLAGS_max_vocab) == 0 || absl::GetFlag(FLAGS_groups) < 1 ||
      !(absl::GetFlag(FLAGS_zipf) > 0) ||
      !(absl::GetFlag(FLAGS_vocab_share) > 0 &&
        absl::GetFlag(FLAGS_vocab_share) <= 1)) {
    std::fprintf(stderr,
                 "usage: ctr_datagen --out=FILE [--rows=N] [--seed=S] "
                 "[--max_vocab=V] [--groups=G] [--zipf=A] [--vocab_share=S] "
                 "[--eval_stream]\n");
    return 2;
  }
  strata::ctr::CtrGeneratorOptions o;
  o.seed = absl::GetFlag(FLAGS_seed);
  o.max_vocab = absl::GetFlag(FLAGS_max_vocab);
  o.groups = absl::GetFlag(FLAGS_groups);
  o.zipf = absl::GetFlag(FLAGS_zipf);
  o.vocab_share = absl::GetFlag(FLAGS_vocab_share);
  const absl::Time t0 = absl::Now();
  strata::ctr::CtrGenerator gen(o);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    return 1;
  }
  const uint64_t stream = absl::GetFlag(FLAGS_eval_stream)
                              ? strata::ctr::kEvalStream
                              : strata::ctr::kTrainStream;
  strata::ctr::BinaryEval planted;
  std::string buf;
  uint64_t bytes = 0;
  const uint64_t rows = absl::GetFlag(FLAGS_rows);
  for (uint64_t i = 0; i < rows; ++i) {
    const size_t at = buf.size();
    const double p = gen.AppendRow(stream, i, &buf);
    planted.Add(static_cast<float>(p), buf[at] == '1' ? 1.0f : 0.0f);
    if (buf.size() >= (1 << 20) || i + 1 == rows) {
      if (std::fwrite(buf.data(), 1, buf.size(), f) != buf.size()) {
        std::perror(path.c_str());
        return 1;
      }
      bytes += buf.size();
      buf.clear();
    }
  }
  if (std::fclose(f) != 0) {
    std::perror(path.c_str());
    return 1;
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  absl::StatusOr<double> auc = planted.Auc();
  absl::StatusOr<double> ll = planted.LogLoss();
  std::printf("wrote %llu rows (%.1f MB) to %s in %.1f s\n",
              static_cast<unsigned long long>(rows), bytes / 1e6, path.c_str(),
              secs);
  if (auc.ok() && ll.ok()) {
    std::printf("planted model on these rows: AUC %.4f, log loss %.4f\n", *auc,
                *ll);
  }
  return 0;
}
