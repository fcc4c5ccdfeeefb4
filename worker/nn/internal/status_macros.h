// Status propagation macros for the NN engine (Abseil of this vintage does
// not export RETURN_IF_ERROR / ASSIGN_OR_RETURN).
#ifndef STRATA_WORKER_NN_INTERNAL_STATUS_MACROS_H_
#define STRATA_WORKER_NN_INTERNAL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define NN_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::absl::Status nn_status_ = (expr);       \
    if (!nn_status_.ok()) return nn_status_;  \
  } while (0)

#define NN_CONCAT_INNER_(a, b) a##b
#define NN_CONCAT_(a, b) NN_CONCAT_INNER_(a, b)

#define NN_ASSIGN_OR_RETURN(lhs, expr) \
  NN_ASSIGN_OR_RETURN_IMPL_(NN_CONCAT_(nn_statusor_, __LINE__), lhs, expr)

#define NN_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                              \
  if (!var.ok()) return var.status();             \
  lhs = std::move(var).value()

#endif  // STRATA_WORKER_NN_INTERNAL_STATUS_MACROS_H_
