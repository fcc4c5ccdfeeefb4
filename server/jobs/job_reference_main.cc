// Prints the job-spec reference, docs/jobs.md, generated from the rules in
// server/jobs: bazel run //server/jobs:job_reference > docs/jobs.md
#include <iostream>

#include "server/jobs/job_types.h"

int main() {
  std::cout << "# Job specs: every field, its default and its range\n\n"
               "Generated from the rules in `server/jobs/` (the one place "
               "they live) by\n`bazel run //server/jobs:job_reference > "
               "docs/jobs.md`; a test checks this file\nis up to date. "
               "Field meanings: `proto/job.proto`. A 0 (proto3's \"unset\") "
               "takes\nthe default; the range is checked after defaults. "
               "Ranges use [ ] for inclusive\nand ( ) for exclusive bounds.\n\n"
            << strata::jobs::JobReferenceMarkdown();
  return 0;
}
